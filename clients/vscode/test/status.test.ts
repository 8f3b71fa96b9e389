import { strict as assert } from "node:assert";
import { test } from "node:test";
import { menuEntries, parseStatus, statusView } from "../src/status";

test("status notifications are parsed from kind or status", () => {
  assert.deepEqual(parseStatus({ kind: "ready" }), { kind: "ready", message: "" });
  assert.deepEqual(parseStatus({ status: "unauthorized", message: "401" }), { kind: "unauthorized", message: "401" });
  assert.equal(parseStatus({ kind: "bogus" }), undefined);
  assert.equal(parseStatus(null), undefined);
  assert.equal(parseStatus("ready"), undefined);
});

test("unauthorized is clickable to sign in", () => {
  // The agent's message speaks to every editor (Neovim, JetBrains, serval token create): not shown here.
  const v = statusView("unauthorized", "the server rejected the token: Neovim: :ServalSignIn; JetBrains: Tools > Serval");
  assert.equal(v.command, "serval.startSignIn");
  assert.match(v.tooltip, /sign in/);
  assert.doesNotMatch(v.tooltip, /Neovim|JetBrains|token create/);
  assert.ok(v.tooltip.length < 120, v.tooltip);
  assert.equal(v.background, "statusBarItem.errorBackground");
});

test("every state has a distinct, explained view", () => {
  const kinds = ["starting", "ready", "fetching", "disconnected", "unauthorized", "rateLimited", "slow", "noModel", "disabled", "agentMissing", "agentCrashed", "untrusted"] as const;
  for (const k of kinds) {
    const v = statusView(k, "why");
    assert.match(v.text, /Serval/);
    assert.ok(v.tooltip.startsWith("Serval"), k);
  }
  assert.match(statusView("slow", "avg 6 s over the last 10").tooltip, /avg 6 s/);
  assert.equal(statusView("disabled").command, "serval.showMenu");
});

test("Restricted Mode says that nothing is sent and offers to trust the folder", () => {
  const v = statusView("untrusted");
  assert.match(v.tooltip, /Restricted Mode/);
  assert.match(v.tooltip, /No code is sent/);
  assert.equal(v.command, "workbench.trust.manage");
});

test("a stopped server: not responding at the endpoint, retrying; not 'check the setting'", () => {
  const v = statusView("disconnected", "cannot reach the server: dial tcp 127.0.0.1:18500: connection refused", "http://127.0.0.1:18500");
  assert.match(v.tooltip, /not responding at http:\/\/127\.0\.0\.1:18500; retrying/);
  assert.doesNotMatch(v.tooltip, /Check serval\.server\.endpoint/);
  assert.match(statusView("disconnected", "", "").tooltip, /127\.0\.0\.1:8080/);
});

test("the ready item opens a menu; turning completions off is one entry", () => {
  assert.equal(statusView("ready").command, "serval.showMenu");
  const ready = menuEntries("ready", false);
  assert.ok(ready.some((e) => e.command === "serval.toggleInlineCompletion" && /off/.test(e.label)));
  assert.ok(ready.some((e) => e.command === "serval.signOut"));
  assert.ok(menuEntries("ready", true).some((e) => /on$/.test(e.label)));
  assert.equal(menuEntries("disconnected", false)[0].command, "serval.openEndpointSetting");
  assert.ok(menuEntries("unauthorized", false).some((e) => e.command === "serval.startSignIn"));
});
