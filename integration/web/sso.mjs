// End-to-end test of OpenID Connect sign-in in Debian's headless Chromium, through
// the real serval binary: the test starts an OpenID provider on a loopback port
// (integration/cmd/serval-testoidc, the provider of integration/testsupport/oidctest
// with a login form), `serval serve --config` with an [[auth.oidc]] table naming it,
// and the real serval-agent over stdio.
//
// "Sign in with Test IdP" → the provider's login form → back signed in, the account
// made just in time; the admin group gives the admin pages, others get 403, and a
// group change at the provider counts at the next sign-in (groups in the ID token or,
// when it has none, at userinfo); an
// editor's device sign-in (serval-agent's serval.signIn command) is approved in a
// browser signed in through the provider, and the agent gets a working token.
// Refused through the binary: a wrong audience, an expired ID token, a replayed nonce,
// an unverified email, a user outside the allowed groups, a forged state and a
// callback planted in another browser; and the provider down (a page saying so, the
// password form still there). Every wait is bounded. Exit code 0 = pass.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { bin, repo, webDir, freshDir, results, log, check, waitFor, testModel, launchChromium, startServal, stopProcess } from "./harness.mjs";

const out = freshDir(path.join(webDir, "out-sso"));
const work = mkdtempSync(path.join(tmpdir(), "serval-sso-e2e-"));
const model = path.join(work, "model.gguf");
testModel(model);

// The provider: its accounts, then the binary on a free loopback port.
const password = "idp password 789";
const accounts = [
  { login: "ada", subject: "u-ada", email: "ada@corp.example", name: "ada", verified: true, groups: ["dev", "serval-admins"] },
  { login: "bob", subject: "u-bob", email: "bob@corp.example", name: "bob", verified: true, groups: ["dev"] },
  { login: "dan", subject: "u-dan", email: "dan@corp.example", name: "dan", verified: true, groups: ["dev", "serval-admins"] },
  { login: "carol", subject: "u-carol", email: "carol@corp.example", name: "carol", verified: true, groups: ["dev"] },
  { login: "eve", subject: "u-eve", email: "eve@corp.example", name: "eve", verified: false, groups: ["dev"] },
  { login: "mal", subject: "u-mal", email: "mal@corp.example", name: "mal", verified: true, groups: ["sales"] },
].map((a) => ({ ...a, password }));
writeFileSync(path.join(work, "accounts.json"), JSON.stringify(accounts));
const idpBin = path.join(work, "serval-testoidc");
execFileSync("go", ["build", "-o", idpBin, "./integration/cmd/serval-testoidc"], { cwd: repo, stdio: "inherit" });
let idpOut = "";
const idp = spawn(idpBin, ["-accounts", path.join(work, "accounts.json")], { stdio: ["pipe", "pipe", "pipe"] });
idp.stdout.on("data", (d) => { idpOut += d; });
idp.stderr.on("data", (d) => { idpOut += d; });

let server, browser, agent;

async function main() {
  const issuer = await waitFor("the provider to listen", () => idpOut.match(/issuer: (http:\/\/127\.0\.0\.1:\d+)/)?.[1], 60_000);
  const tamper = async (body) => {
    const r = await fetch(issuer + "/test/tamper", { method: "POST", body: JSON.stringify(body) });
    if (!r.ok) throw new Error(`tamper: ${r.status}`);
  };
  writeFileSync(path.join(work, "serval.toml"), `
[auth]
password = true

[[auth.oidc]]
name = "idp"
display_name = "Test IdP"
issuer = "${issuer}"
client_id = "serval-test"
client_secret_env = "E2E_IDP_SECRET"
allowed_groups = ["dev"]
admin_group = "serval-admins"
require_verified_email = true
`);
  server = startServal({ model, dataDir: path.join(work, "data"), args: ["--config", path.join(work, "serval.toml")],
    env: { E2E_IDP_SECRET: "provider-client-secret-123" }, logFile: path.join(out, "serval.log") });
  const base = await server.base();
  check("serve reports the provider in its sign-in settings", /web sign-in: .*oidc idp/.test(server.logs), server.logs);

  browser = await launchChromium();
  const shot = (page, name) => page.screenshot({ path: path.join(out, `${name}.png`), fullPage: true });
  const newPage = async () => {
    const p = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    p.setDefaultTimeout(30_000);
    return p;
  };
  const callback = base + "/auth/oidc/idp/callback";
  // providerLogin fills the provider's form (before runs just before it is
  // sent) and returns the answer of Serval's callback.
  const providerLogin = async (page, login, before) => {
    await page.fill("input[name='login']", login);
    await page.fill("input[name='password']", password);
    if (before) await before(page);
    const [res] = await Promise.all([page.waitForResponse((r) => r.url().startsWith(callback)), page.click("form[action='/authorize'] button")]);
    await page.waitForLoadState();
    return res;
  };
  // signIn goes from a login page (from) through the provider.
  const signIn = async (page, login, { from = base + "/login", before } = {}) => {
    if (page.url() !== from) await page.goto(from);
    await Promise.all([page.waitForURL(issuer + "/authorize?**"), page.click("a:has-text('Sign in with Test IdP')")]);
    return providerLogin(page, login, before);
  };
  const signedIn = async (page) => {
    const r = await page.goto(base + "/");
    return r.status() === 200 && !page.url().startsWith(base + "/login");
  };

  // ada: the admin group.
  const ada = await newPage();
  await ada.goto(base + "/login");
  check("the login page offers Sign in with Test IdP", await ada.isVisible("a:has-text('Sign in with Test IdP')"));
  await shot(ada, "01-login");
  await Promise.all([ada.waitForURL(issuer + "/authorize?**"), ada.click("a:has-text('Sign in with Test IdP')")]);
  check("the button leads to the provider's login form", (await ada.title()).includes("Test IdP") && await ada.isVisible("input[name='password']"));
  await shot(ada, "02-provider-login");
  let res = await providerLogin(ada, "ada");
  check("ada comes back from the provider signed in", res.status() === 303 && ada.url() === base + "/", `${res.status()} ${ada.url()}`);
  check("ada's home page", (await ada.textContent("h1")).includes("Your tokens") && (await ada.textContent("body")).includes("ada"));
  check("ada (admin group) sees the Admin link", await ada.isVisible("a[href='/admin/users']"));
  await shot(ada, "03-ada-home");
  for (const p of ["/admin/users", "/admin/audit", "/admin/system"]) {
    res = await ada.goto(base + p);
    check(`ada reaches ${p}`, res.status() === 200, String(res.status()));
  }

  // bob: a member of dev only.
  const bob = await newPage();
  res = await signIn(bob, "bob");
  check("bob comes back signed in", res.status() === 303 && bob.url() === base + "/", `${res.status()} ${bob.url()}`);
  check("bob has no Admin link", !(await bob.isVisible("a[href='/admin/users']")));
  for (const p of ["/admin/users", "/admin/audit"]) {
    res = await bob.goto(base + p);
    check(`bob gets 403 on ${p}`, res.status() === 403, String(res.status()));
  }
  await shot(bob, "04-bob-403");
  await ada.goto(base + "/admin/users");
  const users = await ada.textContent("tbody");
  check("the accounts were made just in time (ada admin, bob not)", /ada[\s\S]*admin/.test(users) && users.includes("bob"), users);
  await shot(ada, "05-users");

  // Group changes at the provider take effect at the next sign-in: bob joins
  // the admin group, then leaves it.
  const setGroups = async (login, groups) => {
    const a = accounts.find((x) => x.login === login);
    const r = await fetch(issuer + "/test/accounts", { method: "POST", body: JSON.stringify([{ ...a, groups }]) });
    if (!r.ok) throw new Error(`accounts: ${r.status}`);
  };
  await setGroups("bob", ["dev", "serval-admins"]);
  await bob.context().clearCookies();
  res = await signIn(bob, "bob");
  check("bob, now in the admin group at the provider, gets the admin pages at his next sign-in",
    res.status() === 303 && (await bob.goto(base + "/admin/users")).status() === 200, String(res.status()));
  await setGroups("bob", ["dev"]);
  await bob.context().clearCookies();
  res = await signIn(bob, "bob");
  check("bob, out of the admin group again, gets 403 at his next sign-in",
    res.status() === 303 && (await bob.goto(base + "/admin/users")).status() === 403, String(res.status()));

  // A provider that sends groups only at its userinfo endpoint: dan's admin
  // group still counts.
  await tamper({ groups_at_userinfo: true });
  const dan = await newPage();
  res = await signIn(dan, "dan");
  check("groups at userinfo only: dan (admin group) gets the admin pages",
    res.status() === 303 && (await dan.goto(base + "/admin/users")).status() === 200, String(res.status()));
  await dan.context().close();
  await tamper({});

  // An editor's sign-in: serval-agent asks for a device code, carol approves it
  // in a browser that signs in through the provider.
  agent = startAgent(base);
  await agent.request("initialize", { processId: process.pid, capabilities: {}, initializationOptions: {} });
  agent.notify("initialized", {});
  const signInResult = agent.request("workspace/executeCommand", { command: "serval.signIn", arguments: [{ deviceName: "e2e laptop" }] }, 180_000);
  const prompt = await agent.notification("serval/signIn", 30_000);
  check("the agent shows a code and a link", /^[A-Z0-9]{4}-?[A-Z0-9]{4}$/.test(prompt.userCode) && prompt.verificationUriComplete.startsWith(base + "/device?user_code="), JSON.stringify(prompt));
  const carol = await newPage();
  await carol.goto(prompt.verificationUriComplete);
  check("the editor's link asks carol to sign in first", carol.url().startsWith(base + "/login"), carol.url());
  await shot(carol, "06-device-login");
  res = await signIn(carol, "carol", { from: carol.url() });
  check("carol comes back to the editor's code", res.status() === 303 && carol.url().startsWith(base + "/device?user_code="), `${res.status()} ${carol.url()}`);
  const devicePage = await carol.textContent("main");
  check("the device page names the editor", devicePage.includes("e2e laptop"), devicePage);
  await shot(carol, "07-device-approve");
  await carol.click("button[value='approve']");
  check("approved", (await carol.textContent("main")).includes("signed in as carol"), await carol.textContent("main"));
  const token = await signInResult;
  check("the agent gets carol's token", /^srv_/.test(token.token) && token.user === "carol", JSON.stringify({ ...token, token: token.token?.slice(0, 4) }));
  res = await fetch(base + "/v1/completions", { method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${token.token}` },
    body: JSON.stringify({ language: "go", segments: { prefix: "func add(a, b int) int {\n\t", suffix: "\n}" } }) });
  check("the editor's token gets 200 from /v1/completions", res.status === 200, String(res.status));
  check("no token in serval's log", !server.logs.includes(token.token));

  // Refusals: each in a fresh browser, none leaves a session.
  const refused = async (name, login, body, status, says) => {
    await tamper(body);
    const page = await newPage();
    const r = await signIn(page, login);
    const text = await page.textContent("main");
    check(`${name}: ${status}`, r.status() === status && text.includes(says), `${r.status()} ${text}`);
    check(`${name}: not signed in`, !(await signedIn(page)), page.url());
    await page.context().close();
  };
  const now = Math.floor(Date.now() / 1000);
  await refused("wrong audience", "bob", { claims: { aud: "another-client" } }, 401, "could not be verified");
  await refused("expired ID token", "bob", { claims: { exp: now - 3600, iat: now - 7200 } }, 401, "could not be verified");
  await refused("replayed nonce", "bob", { replay_nonce: true }, 401, "could not be verified");
  await refused("unverified email", "eve", {}, 403, "not verified");
  await refused("outside the allowed groups", "mal", {}, 403, "allowed group");

  // A forged state: the browser returns from the provider with another state.
  let page = await newPage();
  res = await signIn(page, "bob", { before: (p) => p.evaluate(() => { document.querySelector("input[name='state']").value += "x"; }) });
  check("forged state: 400", res.status() === 400 && (await page.textContent("main")).includes("not started in this browser"), String(res.status()));
  check("forged state: not signed in", !(await signedIn(page)));
  await shot(page, "08-state-mismatch");
  await page.context().close();
  // A callback planted in another browser: the attacker signs in at the
  // provider with the flow their browser started, keeps the callback URL the
  // provider answers instead of following it, and has the victim's browser open it.
  const attacker = await newPage();
  await attacker.goto(base + "/login");
  await Promise.all([attacker.waitForURL(issuer + "/authorize?**"), attacker.click("a:has-text('Sign in with Test IdP')")]);
  const form = new URLSearchParams(await attacker.evaluate(() => [...new FormData(document.querySelector("form[action='/authorize']"))]));
  form.set("login", "mal");
  form.set("password", password);
  const answer = await fetch(issuer + "/authorize", { method: "POST", body: form, redirect: "manual" });
  const planted = answer.headers.get("location") || "";
  check("the provider answers the attacker with a callback URL", answer.status === 302 && planted.startsWith(callback + "?"), `${answer.status} ${planted}`);
  const victim = await newPage();
  res = await victim.goto(planted);
  check("planted callback: 400", res.status() === 400 && (await victim.textContent("main")).includes("not started in this browser"), String(res.status()));
  check("planted callback: not signed in", !(await signedIn(victim)));

  // Nobody refused got an account; the audit log has the refusals.
  await ada.goto(base + "/admin/users");
  const after = await ada.textContent("tbody");
  check("no account for eve or mal", !after.includes("eve") && !after.includes("mal"), after);
  await ada.goto(base + "/admin/audit");
  const audit = await ada.textContent("main");
  check("the audit page shows the provider's sign-ins and refusals", audit.includes("oidc:idp") && audit.includes("state mismatch") && audit.includes("failure"), audit.slice(0, 2000));
  await shot(ada, "09-audit");

  // The provider goes down: its button gets a page saying so, and the
  // password form is still there (password = true).
  idp.stdin.end();
  await stopProcess(idp);
  page = await newPage();
  await page.goto(base + "/login");
  const [down] = await Promise.all([page.waitForResponse((r) => r.url().startsWith(base + "/auth/oidc/idp")), page.click("a:has-text('Sign in with Test IdP')")]);
  const downText = await page.textContent("main");
  check("provider down: 503 saying so, the password form still offered",
    down.status() === 503 && downText.includes("not answering") && await page.isVisible("input[name='password']"), `${down.status()} ${downText}`);
  await shot(page, "10-provider-down");
}

// startAgent runs the real serval-agent over stdio, speaking LSP's framing.
function startAgent(base) {
  const home = mkdtempSync(path.join(work, "agent-home-"));
  const proc = spawn(path.join(bin, "serval-agent"), ["--stdio"], { stdio: ["pipe", "pipe", "pipe"],
    env: { PATH: process.env.PATH, HOME: home, SERVAL_ENDPOINT: base } });
  let buf = Buffer.alloc(0);
  let stderr = "";
  let nextID = 1;
  const pending = new Map();
  const notes = [];
  const send = (msg) => {
    const body = Buffer.from(JSON.stringify({ jsonrpc: "2.0", ...msg }));
    proc.stdin.write(`Content-Length: ${body.length}\r\n\r\n`);
    proc.stdin.write(body);
  };
  proc.stderr.on("data", (d) => { stderr += d; });
  proc.stdout.on("data", (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const len = Number(/Content-Length: *(\d+)/i.exec(buf.subarray(0, end).toString())?.[1]);
      if (buf.length < end + 4 + len) return;
      const msg = JSON.parse(buf.subarray(end + 4, end + 4 + len).toString());
      buf = buf.subarray(end + 4 + len);
      if (msg.method && msg.id !== undefined) send({ id: msg.id, result: null }); // the agent's requests to the editor
      else if (msg.method) notes.push(msg);
      else pending.get(msg.id)?.(msg);
    }
  });
  return {
    proc,
    stderr: () => stderr,
    notify: (method, params) => send({ method, params }),
    request: (method, params, timeoutMs = 30_000) => new Promise((resolve, reject) => {
      const id = nextID++;
      const timer = setTimeout(() => reject(new Error(`${method}: no answer in ${timeoutMs} ms\n${stderr}`)), timeoutMs);
      pending.set(id, (msg) => { clearTimeout(timer); msg.error ? reject(new Error(`${method}: ${msg.error.message}`)) : resolve(msg.result); });
      send({ id, method, params });
    }),
    notification: (method, timeoutMs) => waitFor(method, () => notes.find((n) => n.method === method)?.params, timeoutMs),
  };
}

try {
  await main();
} catch (e) {
  results.failures++;
  log("FAIL", e.stack || e);
  if (agent) log("agent stderr:\n" + agent.stderr());
} finally {
  if (browser) await browser.close().catch(() => {});
  if (agent) { agent.proc.stdin.end(); await stopProcess(agent.proc); }
  if (server) await server.stop();
  idp.stdin.end();
  await stopProcess(idp);
  rmSync(work, { recursive: true, force: true });
}
log(`screenshots and the server log: ${out}`);
console.log(`sso: ${results.passes} passed, ${results.failures} failed`);
process.exit(results.failures === 0 ? 0 : 1);
