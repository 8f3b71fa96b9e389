import { strict as assert } from "node:assert";
import { test } from "node:test";
import { agentLogLine, redact } from "../src/logs";

test("tokens are redacted from traced LSP messages", () => {
  const token = "srv_0123456789abcdefghij";
  const traced = `[Trace - 10:00:00] Sending notification 'workspace/didChangeConfiguration'.\nParams: {\n    "settings": {\n        "serval": {\n            "server": {\n                "endpoint": "http://127.0.0.1:8080",\n                "token": "${token}"\n            }\n        }\n    }\n}`;
  const out = redact(traced);
  assert.ok(!out.includes(token), out);
  assert.match(out, /"token": "<redacted>"/);
  assert.match(out, /"endpoint": "http:\/\/127.0.0.1:8080"/);
  // The sign-in answer, an escaped quote inside, a bearer header, and a known secret anywhere.
  assert.equal(redact('{"token":"a\\"b","tokenName":"vm"}'), '{"token":"<redacted>","tokenName":"vm"}');
  assert.equal(redact("Authorization: Bearer srv_abc.def"), "Authorization: Bearer <redacted>");
  assert.equal(redact(`retrying with ${token}`, [token]), "retrying with <redacted>");
  // Short strings are not taken for secrets (an empty token would erase everything).
  assert.equal(redact("abc", ["", "a"]), "abc");
});

test("agent log lines keep their level", () => {
  assert.deepEqual(agentLogLine('time=2026-12-07T10:00:00.000Z level=INFO msg="server endpoint" endpoint=http://x'), {
    level: "info",
    text: 'msg="server endpoint" endpoint=http://x',
  });
  assert.equal(agentLogLine("time=x level=DEBUG msg=a").level, "debug");
  assert.equal(agentLogLine("time=x level=WARN msg=a").level, "warn");
  assert.equal(agentLogLine("time=x level=ERROR msg=a").level, "error");
  assert.equal(agentLogLine("time=x level=DEBUG-4 msg=a").level, "debug");
  assert.equal(agentLogLine("panic: runtime error").level, "error");
  assert.equal(agentLogLine("serval-agent 0.1.0").level, "info");
});
