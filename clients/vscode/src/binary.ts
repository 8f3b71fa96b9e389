// Finding the serval-agent binary. Pure apart from the injected file checks.
import * as path from "node:path";

/** The platform folder names used inside the vsix (bin/<platform>/serval-agent). */
export function platformDir(platform: string, arch: string): string {
  const os = platform === "win32" ? "windows" : platform;
  const cpu = arch === "x64" ? "amd64" : arch;
  return `${os}-${cpu}`;
}

export interface LookupDeps {
  /** isExecutable reports whether a file exists and may be executed. */
  isExecutable(file: string): boolean;
  env: { PATH?: string };
  platform: string;
  arch: string;
}

export type Lookup = { path: string; source: "setting" | "bundled" | "PATH" } | { error: string };

/**
 * findAgent picks the agent: the serval.agent.path setting when set (an error if it is
 * not executable: a wrong setting must be reported, not silently bypassed); else the
 * binary shipped in the extension for this platform; else serval-agent on PATH.
 */
export function findAgent(setting: string, extensionDir: string, deps: LookupDeps): Lookup {
  const exe = deps.platform === "win32" ? "serval-agent.exe" : "serval-agent";
  if (setting.trim() !== "") {
    const p = setting.trim();
    if (deps.isExecutable(p)) {
      return { path: p, source: "setting" };
    }
    return { error: `serval.agent.path is set to "${p}", which is not an executable file. Fix the setting or clear it to use the bundled agent.` };
  }
  const bundled = path.join(extensionDir, "bin", platformDir(deps.platform, deps.arch), exe);
  if (deps.isExecutable(bundled)) {
    return { path: bundled, source: "bundled" };
  }
  const sep = deps.platform === "win32" ? ";" : ":";
  for (const dir of (deps.env.PATH ?? "").split(sep)) {
    if (dir === "") {
      continue;
    }
    const candidate = path.join(dir, exe);
    if (deps.isExecutable(candidate)) {
      return { path: candidate, source: "PATH" };
    }
  }
  return {
    error: `serval-agent was not found: this extension ships none for ${platformDir(deps.platform, deps.arch)} and it is not on PATH. Install it and set serval.agent.path.`,
  };
}
