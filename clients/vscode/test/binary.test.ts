import { strict as assert } from "node:assert";
import { test } from "node:test";
import { findAgent, platformDir } from "../src/binary";

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
