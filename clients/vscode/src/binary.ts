// Finding the serval-agent binary. Pure apart from the injected file checks.
import * as path from "node:path";

/** The platform folder names used inside the vsix (bin/<platform>/serval-agent). */
export function platformDir(platform: string, arch: string): string {
  const os = platform === "win32" ? "windows" : platform;
  const cpu = arch === "x64" ? "amd64" : arch;
  return `${os}-${cpu}`;
}

/**
 * executablePlatform reads the platform an executable is built for from its first bytes (ELF,
 * PE or Mach-O header), in platformDir's names; undefined when the header is none of those.
 */
export function executablePlatform(head: Uint8Array): string | undefined {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const u16 = (o: number) => (o + 2 <= head.length ? view.getUint16(o, true) : -1);
  const u32 = (o: number) => (o + 4 <= head.length ? view.getUint32(o, true) : -1);
  if (head.length >= 20 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46) {
    const machine = ({ 62: "amd64", 183: "arm64", 3: "386", 40: "arm" } as Record<number, string>)[u16(18)];
    return `linux-${machine ?? `machine${u16(18)}`}`;
  }
  if (head[0] === 0x4d && head[1] === 0x5a) {
    const pe = u32(0x3c);
    if (pe > 0 && u32(pe) === 0x4550) {
      const machine = ({ 0x8664: "amd64", 0xaa64: "arm64", 0x14c: "386" } as Record<number, string>)[u16(pe + 4)];
      return `windows-${machine ?? `machine${u16(pe + 4)}`}`;
    }
    return undefined;
  }
  if (u32(0) === 0xfeedfacf) {
    const cpu = ({ 0x01000007: "amd64", 0x0100000c: "arm64" } as Record<number, string>)[u32(4)];
    return `darwin-${cpu ?? `cpu${u32(4)}`}`;
  }
  if (head[0] === 0xca && head[1] === 0xfe && head[2] === 0xba && head[3] === 0xbe) {
    return "darwin-universal";
  }
  return undefined;
}

export interface LookupDeps {
  /** isExecutable reports whether a file exists and may be executed. */
  isExecutable(file: string): boolean;
  /** readHead returns the first 512 bytes of a file (undefined when unreadable). */
  readHead?(file: string): Uint8Array | undefined;
  /** bundledPlatforms lists the platform folders under the extension's bin/. */
  bundledPlatforms?(): string[];
  /** isQuarantined reports whether macOS marked a file as downloaded (the com.apple.quarantine attribute). */
  isQuarantined?(file: string): boolean;
  env: { PATH?: string };
  platform: string;
  arch: string;
}

export type Lookup = { path: string; source: "setting" | "bundled" | "PATH" } | { error: string };

/**
 * findAgent picks the agent: the serval.agent.path setting when set (an error if it is
 * not executable: a wrong setting must be reported, not silently bypassed); else the
 * binary shipped in the extension for this platform; else serval-agent on PATH. On macOS a
 * quarantined pick is an error saying how to clear it: Gatekeeper would stop it at launch.
 */
export function findAgent(setting: string, extensionDir: string, deps: LookupDeps): Lookup {
  const found = pickAgent(setting, extensionDir, deps);
  if ("path" in found && deps.platform === "darwin" && deps.isQuarantined?.(found.path)) {
    return { error: quarantinedMessage(found.path) };
  }
  return found;
}

/**
 * quarantinedMessage: macOS marks what a browser downloads, and what is unpacked from it, with
 * com.apple.quarantine; Gatekeeper then refuses to start a command-line program that Apple has
 * not notarized, and serval-agent is signed ad hoc only.
 */
export function quarantinedMessage(file: string): string {
  return `macOS has quarantined ${file} (it came from a download), so Gatekeeper will not let it start. If you trust this copy of serval-agent, clear the flag in a terminal: xattr -d com.apple.quarantine "${file}" and then run "Serval: Restart Agent".`;
}

function pickAgent(setting: string, extensionDir: string, deps: LookupDeps): Lookup {
  const exe = deps.platform === "win32" ? "serval-agent.exe" : "serval-agent";
  const here = platformDir(deps.platform, deps.arch);
  // A binary for another platform would fail to spawn with a bare ENOEXEC: say what it is instead.
  const foreign = (file: string): string | undefined => {
    const head = deps.readHead?.(file);
    const built = head && executablePlatform(head);
    return built && built !== here && built !== "darwin-universal" ? built : undefined;
  };
  if (setting.trim() !== "") {
    const p = setting.trim();
    if (deps.isExecutable(p)) {
      const built = foreign(p);
      if (built) {
        return {
          error: `serval.agent.path is "${p}", a serval-agent built for ${built}, but this machine is ${here}. Use the ${here} build of serval-agent, or clear the setting to use the bundled one.`,
        };
      }
      return { path: p, source: "setting" };
    }
    return { error: `serval.agent.path is set to "${p}", which is not an executable file. Fix the setting or clear it to use the bundled agent.` };
  }
  const bundled = path.join(extensionDir, "bin", here, exe);
  if (deps.isExecutable(bundled) && !foreign(bundled)) {
    return { path: bundled, source: "bundled" };
  }
  const sep = deps.platform === "win32" ? ";" : ":";
  for (const dir of (deps.env.PATH ?? "").split(sep)) {
    if (dir === "") {
      continue;
    }
    const candidate = path.join(dir, exe);
    if (deps.isExecutable(candidate) && !foreign(candidate)) {
      return { path: candidate, source: "PATH" };
    }
  }
  return { error: missingAgentMessage(here, deps.bundledPlatforms?.() ?? []) };
}

/** The VS Code target names of platformDir's folders (vsce package --target). */
const targets: Record<string, string> = {
  "linux-amd64": "linux-x64",
  "linux-arm64": "linux-arm64",
  "windows-amd64": "win32-x64",
  "darwin-arm64": "darwin-arm64",
  "darwin-amd64": "darwin-x64",
};

/** missingAgentMessage says which agents this package has, and how to get one for this platform. */
export function missingAgentMessage(here: string, bundled: string[]): string {
  const has = bundled.length > 0 ? `it has agents for ${bundled.join(", ")} only` : "it has no bundled agents";
  const target = targets[here];
  const getOne = target
    ? `install the ${target} package of this extension (serval-VERSION-${target}.vsix), or serval-agent from the serval-VERSION-${here} release archive`
    : `Serval publishes no serval-agent for ${here}; build it from the Serval sources (go build ./agent/cmd/serval-agent, cgo)`;
  return `serval-agent was not found for ${here}: this extension package ships none (${has}) and none is on PATH. ${getOne[0].toUpperCase()}${getOne.slice(1)}, then put it on PATH or set serval.agent.path.`;
}
