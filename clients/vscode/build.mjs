// Bundles the extension with esbuild; --tests also compiles the pure modules and
// their tests for Node's test runner (they do not import vscode).
import * as esbuild from "esbuild";
import { readdirSync } from "node:fs";

const common = { bundle: true, platform: "node", target: "node20", format: "cjs", sourcemap: true, logLevel: "warning" };

await esbuild.build({ ...common, entryPoints: ["src/extension.ts"], outfile: "dist/extension.js", external: ["vscode"], minify: true });

if (process.argv.includes("--tests")) {
  const tests = readdirSync("test").filter((f) => f.endsWith(".test.ts")).map((f) => `test/${f}`);
  await esbuild.build({ ...common, entryPoints: tests, outdir: "out/test", outExtension: { ".js": ".cjs" }, external: ["vscode"] });
}
