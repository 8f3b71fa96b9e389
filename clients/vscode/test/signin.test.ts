import { strict as assert } from "node:assert";
import { test } from "node:test";
import { parseSignInPrompt, parseSignInResult, signedInMessage, signInMessage } from "../src/signin";

test("the sign-in notification gives the code and the page to open", () => {
  const p = parseSignInPrompt({
    userCode: "BCDF-GHJK",
    verificationUri: "http://127.0.0.1:8080/device",
    verificationUriComplete: "http://127.0.0.1:8080/device?user_code=BCDF-GHJK",
    expiresIn: 600,
  });
  assert.deepEqual(p, { userCode: "BCDF-GHJK", uri: "http://127.0.0.1:8080/device?user_code=BCDF-GHJK", expiresIn: 600 });
  assert.match(signInMessage(p!), /BCDF-GHJK.*10 minutes/);
  // Without the complete URI, the plain page; never anything but http(s).
  assert.equal(parseSignInPrompt({ userCode: "X", verificationUri: "https://s.example/device" })?.uri, "https://s.example/device");
  assert.equal(parseSignInPrompt({ userCode: "X", verificationUri: "javascript:alert(1)" }), undefined);
  assert.equal(parseSignInPrompt({ userCode: "X", verificationUri: "file:///etc/passwd" }), undefined);
  assert.equal(parseSignInPrompt({ verificationUri: "http://x/device" }), undefined);
  assert.equal(parseSignInPrompt(null), undefined);
});

test("the command's answer gives the token to store", () => {
  const r = parseSignInResult({ token: "srv_abc", tokenName: "box-(VS-Code)", user: "alice", endpoint: "http://x" });
  assert.deepEqual(r, { token: "srv_abc", tokenName: "box-(VS-Code)", user: "alice" });
  assert.equal(signedInMessage(r!), "Serval: signed in as alice (token “box-(VS-Code)”).");
  assert.equal(parseSignInResult({ token: "  " }), undefined);
  assert.equal(parseSignInResult(null), undefined);
  assert.equal(parseSignInResult({}), undefined);
});

test("the sign-in toast does not say Serval twice", () => {
  const p = parseSignInPrompt({ userCode: "BCDF-GHJK", verificationUri: "http://127.0.0.1:8080/device", expiresIn: 600 });
  assert.doesNotMatch(signInMessage(p!), /^Serval/);
});
