// End-to-end test of the web app in Debian's headless Chromium (playwright-core),
// against the real serval binary on a loopback port with the generated test model.
//
// The path a team lives: setup with the printed code → admin home → create a token →
// the token gets 200 from /v1/completions → invite → the invitee registers in a second
// browser context → sees only their own tokens and usage, 403 on admin pages → the
// admin deactivates them → their token gets 401 at once → the usage page shows the
// events the test sent → the playground shows streamed text. Screenshots of each page
// go to integration/web/out/. Every wait is bounded. Exit code 0 = pass.
//
// With SERVAL_E2E_BASE set, it runs against servers someone else started
// (integration/replicas: two replicas on one PostgreSQL behind HAProxy), with
// SERVAL_E2E_SETUP_URL the setup link and SERVAL_E2E_OUT the screenshots' folder;
// the checks of the one process's log and data directory are left to the caller.
import { mkdtempSync, rmSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { webDir, freshDir, results, log, check, waitFor, testModel, launchChromium, startServal } from "./harness.mjs";

const external = process.env.SERVAL_E2E_BASE || "";
const out = freshDir(process.env.SERVAL_E2E_OUT || path.join(webDir, "out"));

const work = mkdtempSync(path.join(tmpdir(), "serval-web-e2e-"));
const dataDir = path.join(work, "data");
let server;
if (!external) {
  const model = path.join(work, "model.gguf");
  testModel(model);
  // The real binary, port 0: the listening line says where it is.
  server = startServal({ model, dataDir, logFile: path.join(out, "serval.log") });
}
let browser;

async function main() {
  let base, setupURL;
  if (external) {
    base = external;
    setupURL = process.env.SERVAL_E2E_SETUP_URL;
    check("a setup link is given", !!setupURL && setupURL.startsWith(base + "/setup?code="), setupURL);
  } else {
    base = await server.base();
    const logs = server.logs;
    const setupLine = logs.split("\n").find((l) => l.startsWith("setup: "));
    check("serve prints one setup line", !!setupLine && logs.split("\n").filter((l) => l.startsWith("setup: ")).length === 1, logs);
    setupURL = setupLine.slice("setup: ".length).trim();
    check("setup link is the listening address", setupURL.startsWith(base + "/setup?code="), setupURL);
    const fileMode = statSync(path.join(dataDir, "setup-url")).mode & 0o777;
    check("setup-url is 0600 and holds the link", fileMode === 0o600 && readFileSync(path.join(dataDir, "setup-url"), "utf8").trim() === setupURL, fileMode.toString(8));
  }

  const api = (p, token, body) => fetch(base + p, {
    method: "POST", headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const complete = (token) => api("/v1/completions", token, { language: "go", segments: { prefix: "func add(a, b int) int {\n\t", suffix: "\n}" } });

  browser = await launchChromium();
  const admin = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  admin.setDefaultTimeout(30_000);
  const shot = (page, name) => page.screenshot({ path: path.join(out, `${name}.png`), fullPage: true });
  // What a person would see in the console: errors (an invalid pattern, a missing favicon).
  const consoleErrors = [];
  const watch = (page, who) => {
    // (The pages this test is refused on purpose log "Failed to load resource"; a missing favicon is caught by its response.)
    page.on("console", (m) => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) consoleErrors.push(`${who} ${page.url()}: ${m.text()}`); });
    page.on("response", (r) => { if (r.status() === 404 && /\/(favicon\.ico|static\/)/.test(r.url())) consoleErrors.push(`${who}: 404 ${r.url()}`); });
    // Acting forms ask first (revoke, rotate, deactivate): answer yes, and remember the question.
    page.on("dialog", (d) => { dialogs.push(d.message()); void d.accept(); });
  };
  const dialogs = [];
  watch(admin, "admin");

  // Setup: a wrong code is refused, the printed one works.
  let res = await admin.goto(base + "/setup?code=wrong");
  check("wrong setup code refused", res.status() === 403, String(res.status()));
  await admin.goto(setupURL);
  await shot(admin, "01-setup");
  check("the username pattern is valid under the v flag (checked by the browser)",
    await admin.evaluate(() => { const i = document.querySelector('input[name="username"]'); i.value = "bad name"; const bad = !i.checkValidity(); i.value = ""; return bad; }));
  await admin.fill('input[name="username"]', "admin");
  await admin.fill('input[name="password"]', "admin password 123");
  await Promise.all([admin.waitForURL(base + "/"), admin.click("button:has-text('Create the admin account')")]);
  check("setup signs the admin in on the home page", (await admin.textContent("h1")).includes("Your tokens"));
  check("admin sees the Admin link", await admin.isVisible("a[href='/admin/users']"));
  await shot(admin, "02-admin-home");

  // Create a token; it is shown once and works on the API.
  await admin.fill('input[name="name"]', "admin-laptop");
  await admin.click("button:has-text('Create token')");
  const adminToken = (await admin.textContent("#new-token")).trim();
  check("token shown once after create", /^srv_[A-Za-z0-9]{32}$/.test(adminToken), adminToken);
  check("after creating a token the address bar shows the page, not the POST URL", admin.url() === base + "/", admin.url());
  await shot(admin, "03-token-created");
  res = await complete(adminToken);
  const completion = await res.json();
  check("the new token gets 200 from /v1/completions", res.status === 200 && completion.id?.startsWith("cmpl-"), JSON.stringify(completion));
  // The events an editor would send: shown, then accepted.
  for (const type of ["view", "select"]) {
    const r = await api("/v1/events", adminToken, { type, completion_id: completion.id, choice_index: 0 });
    check(`event ${type} accepted`, r.status === 200, String(r.status));
  }
  await admin.reload();
  check("the token list shows a last use", !(await admin.textContent("tbody")).includes("never"));

  // Editor sign-in (device code, RFC 8628): the editor asks, the signed-in
  // browser approves the code it shows, the editor gets a token of its own.
  const oauth = (p, fields) => fetch(base + p, { method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(fields) });
  res = await oauth("/oauth/device/code", { client_id: "serval-agent", device_name: "e2e-laptop" });
  const dc = await res.json();
  check("an editor gets a device code", res.status === 200 && /^[A-Z0-9]{4}-[A-Z0-9]{4}$/.test(dc.user_code) && dc.verification_uri_complete?.startsWith(base + "/device"), JSON.stringify(dc));
  const poll = () => oauth("/oauth/token", { grant_type: "urn:ietf:params:oauth:grant-type:device_code", device_code: dc.device_code, client_id: "serval-agent" });
  res = await poll();
  check("before approval the editor is told to wait", res.status === 400 && (await res.json()).error === "authorization_pending", String(res.status));
  await admin.goto(dc.verification_uri_complete);
  check("the device page shows the editor's code and name", (await admin.textContent(".user-code")).trim() === dc.user_code && (await admin.textContent(".device-name")).trim() === "e2e-laptop");
  await shot(admin, "03b-device");
  await Promise.all([admin.waitForURL(base + "/device"), admin.click("button[value='approve']")]);
  check("approving says the editor is signed in", (await admin.textContent("main")).includes("Editor signed in"));
  // Poll as an editor does (RFC 8628 §3.5): every interval, 5 s longer after a slow_down.
  let editorToken = "", interval = dc.interval || 5;
  for (let i = 0; i < 4 && !editorToken; i++) {
    await new Promise((r) => setTimeout(r, interval * 1000 + 250));
    const r = await poll();
    const b = await r.json();
    if (r.status === 200) editorToken = b.access_token;
    else if (b.error === "slow_down") interval += 5;
    else if (b.error !== "authorization_pending") { editorToken = JSON.stringify(b); break; }
  }
  check("the editor gets its own token", /^srv_[A-Za-z0-9]{32}$/.test(editorToken), editorToken);
  res = await complete(editorToken);
  check("the editor's token gets 200 from /v1/completions", res.status === 200, String(res.status));
  res = await poll();
  check("a device code gives one token", res.status === 400, String(res.status));

  // Invite; the invitee registers in a second browser context.
  await admin.goto(base + "/admin/invitations");
  await admin.fill('input[name="note"]', "Bob from QA");
  await admin.click("button:has-text('Create invitation')");
  const inviteLink = (await admin.textContent("#invite-link")).trim();
  check("invitation link", inviteLink.startsWith(base + "/register?invite="), inviteLink);
  await shot(admin, "04-invitation");

  const bob = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  bob.setDefaultTimeout(30_000);
  watch(bob, "bob");
  await bob.goto(inviteLink);
  await shot(bob, "05-register");
  await bob.fill('input[name="username"]', "bob");
  await bob.fill('input[name="password"]', "bob password 456");
  await Promise.all([bob.waitForURL(base + "/"), bob.click("button:has-text('Create my account')")]);
  await bob.fill('input[name="name"]', "bob-laptop");
  await bob.click("button:has-text('Create token')");
  const bobToken = (await bob.textContent("#new-token")).trim();
  const bobHome = await bob.textContent("main");
  check("invitee sees only their own tokens", bobHome.includes("bob-laptop") && !bobHome.includes("admin-laptop"));
  check("invitee has no Admin link", !(await bob.isVisible("a[href='/admin/users']")));
  await shot(bob, "06-invitee-home");
  for (const p of ["/admin/users", "/admin/tokens", "/admin/invitations", "/admin/system"]) {
    res = await bob.goto(base + p);
    check(`invitee gets 403 on ${p}`, res.status() === 403, String(res.status()));
  }
  await shot(bob, "07-invitee-403");
  await bob.goto(base + "/usage");
  check("invitee's usage is their own (none yet)", (await bob.textContent("#total-shown")).trim() === "0" && (await bob.textContent("main")).includes("Your completions"));
  await shot(bob, "08-invitee-usage");
  res = await complete(bobToken);
  check("invitee's token works", res.status === 200, String(res.status));
  res = await bob.goto(inviteLink);
  check("a used invitation is refused", res.status() === 410, String(res.status()));

  // The admin deactivates bob: his token gets 401 on the very next request.
  await admin.goto(base + "/admin/users");
  check("the admin's own row offers no Deactivate", (await admin.locator("form[action='/users/admin/disable']").count()) === 0);
  await admin.click("form[action='/users/bob/disable'] button");
  await admin.waitForURL(base + "/admin/users");
  check("deactivating asks first", dialogs.some((m) => m.startsWith("Deactivate bob?")), JSON.stringify(dialogs));
  check("users page shows bob deactivated", (await admin.textContent("tbody")).includes("deactivated"));
  check("users page says what the deactivation did", (await admin.textContent("main")).includes("bob deactivated"));
  await shot(admin, "09-admin-users");
  res = await complete(bobToken);
  check("deactivated user's token gets 401 at once", res.status === 401, String(res.status));
  res = await bob.goto(base + "/");
  check("deactivated user's session ended", bob.url().startsWith(base + "/login"), bob.url());

  // Usage shows the events the test sent.
  await admin.goto(base + "/usage");
  const shown = Number((await admin.textContent("#total-shown")).trim());
  const accepted = Number((await admin.textContent("#total-accepted")).trim());
  check("usage shows the test's events", shown === 1 && accepted === 1, `shown ${shown} accepted ${accepted}`);
  check("usage chart is drawn", await admin.isVisible("svg.chart"));
  check("usage per language and user", (await admin.textContent("main")).includes("go") && (await admin.textContent("main")).includes("By user"));
  await shot(admin, "10-usage");

  await admin.goto(base + "/admin/tokens");
  await shot(admin, "11-admin-tokens");

  // A phone's width: the admin's tables scroll inside their box, never the page.
  await admin.setViewportSize({ width: 390, height: 844 });
  for (const p of ["/", "/admin/users", "/admin/invitations", "/admin/tokens", "/usage"]) {
    await admin.goto(base + p);
    const wide = await admin.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(`${p} fits 390 px without sideways scrolling`, wide <= 0, `${wide} px too wide`);
  }
  await shot(admin, "11b-admin-invitations-390px");
  await admin.setViewportSize({ width: 1280, height: 900 });
  // Reloading a POST URL by hand (GET) gives a 404 that knows who is signed in.
  res = await admin.goto(base + "/tokens/1/rotate");
  check("a 404 page knows the session", res.status() === 404 && (await admin.isVisible("form[action='/logout'] button")) && !(await admin.isVisible("a[href='/login']")));
  await admin.goto(base + "/admin/system");
  check("system page shows the model and slots", (await admin.textContent("main")).includes("serval-test-tiny") && (await admin.textContent("main")).includes("Slots"));
  await shot(admin, "12-admin-system");

  // Playground: ghost text streams in from /v1/completions with the session.
  await admin.goto(base + "/playground");
  await admin.click("#pg-code");
  await admin.keyboard.press("End");
  await admin.keyboard.type("return");
  const ghost = await waitFor("ghost text", async () => {
    const t = await admin.textContent("#pg-ghost .ghost");
    return t && t.length > 0 ? t : null;
  }, 60_000, 250).catch((e) => String(e));
  check("playground shows streamed ghost text", typeof ghost === "string" && ghost.length > 0 && !ghost.startsWith("Error: timed out"), ghost);
  await waitFor("stream end", async () => (await admin.getAttribute("#pg-ghost", "data-done")) === "1", 60_000).catch(() => {});
  await shot(admin, "13-playground");
  // With the caret inside the code, the ghost text is drawn at the caret, where Tab inserts it.
  await admin.evaluate(() => {
    const c = document.getElementById("pg-code");
    c.value = "def add(a, b):\n    \n\nprint(add(1, 2))\n";
    c.focus();
    c.setSelectionRange(19, 19); // after the indentation of line 2
  });
  await admin.click("#pg-complete");
  const placed = await waitFor("ghost text at the caret", async () => {
    const d = await admin.getAttribute("#pg-ghost", "data-done");
    const g = await admin.textContent("#pg-ghost .ghost");
    return d === "1" && g ? g : null;
  }, 60_000, 250).catch(() => "");
  const drawn = await admin.evaluate(() => {
    const span = document.querySelector("#pg-ghost .ghost");
    return { before: span.previousSibling?.textContent ?? "", after: span.nextSibling?.textContent ?? "" };
  });
  check("the ghost text is drawn at the caret, the rest of the code after it",
    placed !== "" && drawn.before === "def add(a, b):\n    " && drawn.after === "\n\nprint(add(1, 2))\n", JSON.stringify({ placed, drawn }));
  await admin.press("#pg-code", "Tab");
  const value = await admin.inputValue("#pg-code");
  check("Tab inserts it at the caret", value === "def add(a, b):\n    " + placed + "\n\nprint(add(1, 2))\n", JSON.stringify(value));
  res = await admin.evaluate(async () => (await fetch("/v1/completions", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ language: "go", segments: { prefix: "x" } }) })).status);
  check("the session authenticates the page's API calls", res === 200, String(res));
  await admin.click("form[action='/logout'] button");
  res = await admin.evaluate(async () => (await fetch("/v1/completions", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ language: "go", segments: { prefix: "x" } }) })).status);
  check("after logout the page's API calls get 401", res === 401, String(res));
  await shot(admin, "14-signed-out");
  // Password sign-in.
  await admin.goto(base + "/login");
  await admin.fill('input[name="username"]', "admin");
  await admin.fill('input[name="password"]', "admin password 123");
  await Promise.all([admin.waitForURL(base + "/"), admin.click("button:has-text('Sign in')")]);
  check("the admin signs in with the password", (await admin.textContent("h1")).includes("Your tokens"));
  check("no console errors and no favicon 404 on any page", consoleErrors.length === 0, consoleErrors.join("\n"));
}

try {
  await main();
} catch (e) {
  results.failures++;
  log("FAIL", e.stack || e);
} finally {
  if (browser) await browser.close().catch(() => {});
  if (server) {
    await server.stop();
  }
  rmSync(work, { recursive: true, force: true });
}
log(`screenshots and the server log: ${out}`);
console.log(`${results.passes} passed, ${results.failures} failed`);
process.exit(results.failures === 0 ? 0 : 1);
