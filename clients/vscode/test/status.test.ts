import { strict as assert } from "node:assert";
import { test } from "node:test";
import { parseStatus, statusView } from "../src/status";

test("status notifications are parsed from kind or status", () => {
  assert.deepEqual(parseStatus({ kind: "ready" }), { kind: "ready", message: "" });
  assert.deepEqual(parseStatus({ status: "unauthorized", message: "401" }), { kind: "unauthorized", message: "401" });
  assert.equal(parseStatus({ kind: "bogus" }), undefined);
  assert.equal(parseStatus(null), undefined);
  assert.equal(parseStatus("ready"), undefined);
});

test("unauthorized is clickable to sign in", () => {
  const v = statusView("unauthorized", "token rejected");
  assert.equal(v.command, "serval.startSignIn");
  assert.match(v.tooltip, /sign in/);
  assert.match(v.tooltip, /token rejected/);
  assert.equal(v.background, "statusBarItem.errorBackground");
});

test("every state has a distinct, explained view", () => {
  const kinds = ["starting", "ready", "fetching", "disconnected", "unauthorized", "rateLimited", "slow", "noModel", "disabled", "agentMissing", "agentCrashed"] as const;
  for (const k of kinds) {
    const v = statusView(k, "why");
    assert.match(v.text, /Serval/);
    assert.ok(v.tooltip.startsWith("Serval"), k);
  }
  assert.match(statusView("slow", "avg 6 s over the last 10").tooltip, /avg 6 s/);
  assert.equal(statusView("disabled").command, "serval.toggleInlineCompletion");
});
