import { strict as assert } from "node:assert";
import { test } from "node:test";
import { agentArgs, agentOptions, validateEndpoint } from "../src/settings";

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
