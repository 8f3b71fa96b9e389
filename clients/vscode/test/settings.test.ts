import { strict as assert } from "node:assert";
import { test } from "node:test";
import { agentArgs, agentOptions, tokenVerdict, unreachable, validateEndpoint } from "../src/settings";

const client = { name: "Visual Studio Code", version: "1.99.0" };

test("endpoint and token reach the agent; empty values are left out", () => {
  assert.deepEqual(agentOptions({ endpoint: " http://127.0.0.1:8080/ ", logLevel: "info", agentPath: "" }, " srv_abc ", client), {
    server: { endpoint: "http://127.0.0.1:8080", token: "srv_abc" },
    client,
  });
  assert.deepEqual(agentOptions({ endpoint: "", logLevel: "info", agentPath: "" }, undefined, client).server, {});
  assert.deepEqual(agentOptions({ endpoint: "  ", logLevel: "info", agentPath: "" }, "", client).server, {});
});

test("endpoint validation", () => {
  assert.equal(validateEndpoint(""), undefined);
  assert.equal(validateEndpoint("https://serval.example:8443"), undefined);
  assert.match(validateEndpoint("ftp://127.0.0.1:8080") ?? "", /http:\/\/ or https:\/\//);
  assert.match(validateEndpoint("127.0.0.1:8080") ?? "", /use e.g. http/);
  assert.match(validateEndpoint("not a url") ?? "", /not a URL/);
});

test("agent arguments", () => {
  assert.deepEqual(agentArgs("debug"), ["--stdio", "--log-level", "debug"]);
  assert.deepEqual(agentArgs("verbose"), ["--stdio", "--log-level", "info"]);
});

test("Set Token says whether the server took the token", () => {
  const e = "http://127.0.0.1:18500";
  assert.deepEqual(tokenVerdict(200, e), { ok: true, message: `Serval: token accepted by ${e}.` });
  assert.equal(tokenVerdict(401, e).ok, false);
  assert.match(tokenVerdict(401, e).message, /rejected this token/);
  assert.match(tokenVerdict("unreachable", e).message, /no server answers at http:\/\/127\.0\.0\.1:18500/);
});

test("a sign-in that found no server is told apart", () => {
  assert.ok(unreachable('sign-in: Post "http://127.0.0.1:1/oauth/device/code": dial tcp 127.0.0.1:1: connect: connection refused'));
  assert.ok(!unreachable("the code expired before it was approved"));
});

test("package.json: endpoint first, with a URL pattern VS Code checks as you type", async () => {
  const { readFileSync } = await import("node:fs");
  const props = JSON.parse(readFileSync("package.json", "utf8")).contributes.configuration.properties;
  const order = Object.entries(props).sort((a: any, b: any) => a[1].order - b[1].order).map(([k]) => k);
  assert.deepEqual(order, ["serval.server.endpoint", "serval.inlineCompletion.enabled", "serval.agent.path", "serval.agent.logLevel"]);
  const re = new RegExp(props["serval.server.endpoint"].pattern);
  for (const ok of ["", "http://127.0.0.1:18500", "https://serval.example/base"]) assert.ok(re.test(ok), ok);
  for (const bad of ["127.0.0.1:18500", "ftp://x", "http://"]) assert.ok(!re.test(bad), bad);
});

test("the extension's details page: an icon in the package and no link into the repository", async () => {
  const { readFileSync, existsSync } = await import("node:fs");
  const pkg = JSON.parse(readFileSync("package.json", "utf8"));
  assert.equal(pkg.icon, "icon.png");
  assert.ok(existsSync("icon.png"));
  assert.match(readFileSync(".vscodeignore", "utf8"), /^!icon\.png$/m);
  const readme = readFileSync("README.md", "utf8");
  assert.doesNotMatch(readme, /\]\(\.\.?\//, "a relative link is broken on the details page");
  assert.match(readme, /Serval: Sign In/);
});
