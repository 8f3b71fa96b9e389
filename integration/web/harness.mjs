// What the web app's browser tests (e2e.mjs, sso.mjs) share: where the binaries
// and the cache are, checks that count, bounded waits, Debian's Chromium through
// playwright-core, and the real serval on a loopback port.
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

// webDir is integration/web.
export const webDir = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(webDir, "../..");
export const bin = process.env.SERVAL_BIN_DIR || path.join(repo, "bin");
export const libDir = process.env.SERVAL_LIB_DIR || path.join(bin, "lib", "cpu");
const cache = process.env.SERVAL_E2E_CACHE || path.join(process.env.XDG_CACHE_HOME || path.join(process.env.HOME, ".cache"), "serval-e2e");

// freshDir empties dir (screenshots and logs) and returns it.
export function freshDir(dir) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

export const results = { passes: 0, failures: 0 };
export const log = (...a) => console.log(`[web-e2e ${new Date().toISOString().slice(11, 19)}]`, ...a);
export function check(name, ok, detail = "") {
  if (ok) { results.passes++; log(`PASS ${name}`); } else { results.failures++; log(`FAIL ${name} ${detail}`); }
}

// waitFor polls fn until it returns something truthy, at most timeoutMs.
export async function waitFor(what, fn, timeoutMs = 60_000, everyMs = 200) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

// testModel writes the generated tiny GGUF model to file.
export function testModel(file) {
  execFileSync("go", ["run", "./integration/cmd/serval-testmodel", "-o", file], { cwd: repo, stdio: "inherit" });
}

export function launchChromium() {
  const require = createRequire(path.join(cache, "playwright", "package.json"));
  const { chromium } = require("playwright-core");
  return chromium.launch({
    executablePath: process.env.SERVAL_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

// startServal runs `serval serve` with the test model on port 0 plus args;
// its log goes to logFile. base() waits for the listening address.
export function startServal({ model, dataDir, args = [], env = {}, logFile }) {
  const proc = spawn(path.join(bin, "serval"), ["serve", "--model", model, "--host", "127.0.0.1", "--port", "0",
    "--data-dir", dataDir, "--lib-dir", libDir, "--threads", "1", ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  const s = { proc, logs: "" };
  const append = (d) => { s.logs += d.toString(); writeFileSync(logFile, s.logs); };
  proc.stdout.on("data", append);
  proc.stderr.on("data", append);
  s.base = () => waitFor("serval to listen", () => s.logs.match(/serval: listening on (http:\/\/[0-9.:]+)/)?.[1], 120_000);
  s.stop = () => stopProcess(proc);
  return s;
}

// stopProcess sends SIGTERM and, after 15 s, SIGKILL.
export async function stopProcess(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once("exit", r));
  proc.kill("SIGTERM");
  await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
  if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
}
