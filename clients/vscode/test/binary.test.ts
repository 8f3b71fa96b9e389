import { strict as assert } from "node:assert";
import { test } from "node:test";
import { executablePlatform, findAgent, missingAgentMessage, platformDir, quarantinedMessage } from "../src/binary";

const deps = (exes: string[], PATH = "/usr/local/bin:/usr/bin") => ({
  isExecutable: (f: string) => exes.includes(f),
  env: { PATH },
  platform: "linux",
  arch: "x64",
});

test("the setting wins, and a wrong setting is an error, not a silent fallback", () => {
  assert.deepEqual(findAgent("/opt/serval-agent", "/ext", deps(["/opt/serval-agent", "/ext/bin/linux-amd64/serval-agent"])), {
    path: "/opt/serval-agent",
    source: "setting",
  });
  const r = findAgent("/nope", "/ext", deps(["/ext/bin/linux-amd64/serval-agent"]));
  assert.ok("error" in r && r.error.includes("serval.agent.path"));
});

test("bundled binary before PATH", () => {
  assert.deepEqual(findAgent("", "/ext", deps(["/ext/bin/linux-amd64/serval-agent", "/usr/bin/serval-agent"])), {
    path: "/ext/bin/linux-amd64/serval-agent",
    source: "bundled",
  });
  assert.deepEqual(findAgent("", "/ext", deps(["/usr/bin/serval-agent"])), { path: "/usr/bin/serval-agent", source: "PATH" });
});

test("nothing found names the platform and the setting", () => {
  const r = findAgent("", "/ext", deps([]));
  assert.ok("error" in r && r.error.includes("linux-amd64") && r.error.includes("serval.agent.path"));
  assert.equal(platformDir("darwin", "arm64"), "darwin-arm64");
  assert.equal(platformDir("win32", "x64"), "windows-amd64");
});

// Headers of real executables, cut to what executablePlatform reads.
function elf(machine: number): Uint8Array {
  const b = new Uint8Array(64);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  new DataView(b.buffer).setUint16(18, machine, true);
  return b;
}
function pe(machine: number): Uint8Array {
  const b = new Uint8Array(256);
  const v = new DataView(b.buffer);
  b.set([0x4d, 0x5a]);
  v.setUint32(0x3c, 0x80, true);
  v.setUint32(0x80, 0x4550, true);
  v.setUint16(0x84, machine, true);
  return b;
}
function macho(cpu: number): Uint8Array {
  const b = new Uint8Array(32);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0xfeedfacf, true);
  v.setUint32(4, cpu, true);
  return b;
}

test("executablePlatform reads ELF, PE and Mach-O headers", () => {
  assert.equal(executablePlatform(elf(62)), "linux-amd64");
  assert.equal(executablePlatform(elf(183)), "linux-arm64");
  assert.equal(executablePlatform(pe(0x8664)), "windows-amd64");
  assert.equal(executablePlatform(macho(0x0100000c)), "darwin-arm64");
  assert.equal(executablePlatform(macho(0x01000007)), "darwin-amd64");
  assert.equal(executablePlatform(new TextEncoder().encode("#!/bin/sh\n")), undefined);
  assert.equal(executablePlatform(new Uint8Array(0)), undefined);
});

test("a binary for another platform is named, not spawned", () => {
  const heads: Record<string, Uint8Array> = {
    "/opt/arm/serval-agent": elf(183),
    "/ext/bin/linux-amd64/serval-agent": elf(183), // a broken package
    "/usr/bin/serval-agent": elf(62),
  };
  const d = { ...deps(Object.keys(heads)), readHead: (f: string) => heads[f] };
  const r = findAgent("/opt/arm/serval-agent", "/ext", d);
  assert.ok("error" in r && r.error.includes("built for linux-arm64") && r.error.includes("this machine is linux-amd64"), JSON.stringify(r));
  // The foreign bundled binary is passed over for the right one on PATH.
  assert.deepEqual(findAgent("", "/ext", d), { path: "/usr/bin/serval-agent", source: "PATH" });
});

test("the universal package says which agents it has and how to get this platform's", () => {
  const mac = { ...deps([]), platform: "darwin", arch: "arm64", bundledPlatforms: () => ["linux-amd64", "linux-arm64", "windows-amd64"] };
  const r = findAgent("", "/ext", mac);
  assert.ok("error" in r, JSON.stringify(r));
  if ("error" in r) {
    for (const want of ["darwin-arm64", "linux-amd64, linux-arm64, windows-amd64 only", "darwin-arm64 package", "serval-VERSION-darwin-arm64 release archive", "serval.agent.path"]) {
      assert.ok(r.error.includes(want), `${r.error} lacks ${want}`);
    }
  }
  const win = missingAgentMessage("windows-amd64", ["linux-amd64"]);
  assert.ok(win.includes("win32-x64 package") && win.includes("linux-amd64 only"), win);
  assert.ok(missingAgentMessage("linux-riscv64", []).includes("publishes no serval-agent for linux-riscv64"));
});

test("a Mac with the other architecture's package is told which package to install", () => {
  const heads: Record<string, Uint8Array> = { "/ext/bin/darwin-amd64/serval-agent": macho(0x01000007) };
  const mac = {
    ...deps(Object.keys(heads)),
    platform: "darwin",
    arch: "arm64",
    readHead: (f: string) => heads[f],
    bundledPlatforms: () => ["darwin-amd64"],
  };
  const r = findAgent("", "/ext", mac);
  assert.ok("error" in r, JSON.stringify(r));
  if ("error" in r) {
    for (const want of ["not found for darwin-arm64", "darwin-amd64 only", "Install the darwin-arm64 package"]) {
      assert.ok(r.error.includes(want), `${r.error} lacks ${want}`);
    }
  }
  // An Intel agent put where the arm64 one belongs is named, not spawned.
  const misplaced = { ...mac, isExecutable: (f: string) => f === "/ext/bin/darwin-arm64/serval-agent", readHead: () => macho(0x01000007) };
  const m = findAgent("/ext/bin/darwin-arm64/serval-agent", "/ext", misplaced);
  assert.ok("error" in m && m.error.includes("built for darwin-amd64") && m.error.includes("this machine is darwin-arm64"), JSON.stringify(m));
});

test("a quarantined agent on macOS gets the command that clears it, whichever way it was found", () => {
  const agent = "/Users/me/Downloads/serval-v1-darwin-arm64/serval-agent";
  const mac = {
    ...deps([agent, "/ext/bin/darwin-arm64/serval-agent"], "/Users/me/Downloads/serval-v1-darwin-arm64"),
    platform: "darwin",
    arch: "arm64",
    readHead: () => macho(0x0100000c),
    isQuarantined: (f: string) => f === agent,
  };
  for (const r of [findAgent(agent, "/nowhere", mac), findAgent("", "/nowhere", mac)]) {
    assert.deepEqual(r, { error: quarantinedMessage(agent) });
  }
  assert.ok(quarantinedMessage(agent).includes(`xattr -d com.apple.quarantine "${agent}"`));
  // The bundled agent (not quarantined: VS Code unpacks packages itself) is used as before.
  assert.deepEqual(findAgent("", "/ext", mac), { path: "/ext/bin/darwin-arm64/serval-agent", source: "bundled" });
  // Only macOS has the attribute.
  assert.deepEqual(findAgent(agent, "/ext", { ...mac, platform: "linux", arch: "arm64", readHead: () => elf(183) }), { path: agent, source: "setting" });
});
