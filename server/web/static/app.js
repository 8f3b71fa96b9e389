// Serval web app: progressive enhancement only (copy buttons, the
// playground's streaming completion and chat). Every page works without it
// except the playground, which needs it to call the API.
"use strict";

// Forms that act at once (revoke, rotate, deactivate) ask first.
document.addEventListener("submit", (e) => {
  const msg = e.target.dataset && e.target.dataset.confirm;
  if (msg && !window.confirm(msg)) e.preventDefault();
});

document.addEventListener("click", (e) => {
  const btn = e.target.closest("button.copy");
  if (!btn) return;
  const el = document.getElementById(btn.dataset.copy);
  if (!el) return;
  const text = el.textContent;
  const done = () => { btn.textContent = "Copied"; setTimeout(() => (btn.textContent = "Copy"), 1500); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => selectText(el));
  } else {
    selectText(el);
    try { document.execCommand("copy"); done(); } catch (_) { /* selected for a manual copy */ }
  }
});

function selectText(el) {
  const range = document.createRange();
  range.selectNodeContents(el);
  const sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
}

// readEvents calls fn with each JSON payload of a server-sent-events
// response body until [DONE] or the end of the stream.
async function readEvents(res, fn) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      for (const line of block.split("\n")) {
        if (!line.startsWith("data: ")) continue;
        const data = line.slice(6);
        if (data === "[DONE]") return;
        fn(JSON.parse(data));
      }
    }
  }
}

async function apiError(res) {
  try { return (await res.json()).error || res.statusText; } catch (_) { return res.status + " " + res.statusText; }
}

function playground() {
  const code = document.getElementById("pg-code");
  if (!code) return;
  const ghost = document.getElementById("pg-ghost");
  const lang = document.getElementById("pg-language");
  const status = document.getElementById("pg-status");
  let suggestion = "";
  let at = 0; // where the suggestion goes: the caret when it was asked for
  let controller = null;
  let timer = null;

  // The ghost text is drawn where Tab inserts it: at the caret, with the rest
  // of the code after it, not after the last line.
  const paint = () => {
    const pos = suggestion ? Math.min(at, code.value.length) : code.value.length;
    ghost.textContent = code.value.slice(0, pos);
    const span = document.createElement("span");
    span.className = "ghost";
    span.textContent = suggestion;
    ghost.appendChild(span);
    ghost.appendChild(document.createTextNode(code.value.slice(pos)));
  };

  async function complete() {
    if (controller) controller.abort();
    controller = new AbortController();
    suggestion = "";
    delete ghost.dataset.done; // set again when this completion's stream ends
    paint();
    status.textContent = "completing…";
    at = code.selectionEnd;
    const prefix = code.value.slice(0, at);
    const suffix = code.value.slice(at);
    try {
      const res = await fetch("/v1/completions", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ language: lang.value, segments: { prefix, suffix }, stream: true }),
        signal: controller.signal,
      });
      if (!res.ok) { status.textContent = await apiError(res); return; }
      await readEvents(res, (ev) => {
        if (ev.error) { status.textContent = ev.error; return; }
        for (const c of ev.choices || []) suggestion += c.text || "";
        paint();
      });
      status.textContent = suggestion ? "Tab accepts" : "no suggestion";
      ghost.dataset.done = "1";
    } catch (err) {
      if (err.name !== "AbortError") status.textContent = String(err);
    }
  }

  code.addEventListener("input", () => {
    suggestion = "";
    delete ghost.dataset.done;
    paint();
    clearTimeout(timer);
    timer = setTimeout(complete, 400);
  });
  code.addEventListener("keydown", (e) => {
    if (e.key === "Tab" && suggestion && code.selectionStart === at && code.selectionEnd === at) {
      e.preventDefault();
      code.setRangeText(suggestion, at, at, "end");
      suggestion = "";
      paint();
    } else if (e.key === "Escape") {
      suggestion = "";
      paint();
    }
  });
  code.addEventListener("scroll", () => { ghost.scrollTop = code.scrollTop; });
  document.getElementById("pg-complete").addEventListener("click", () => { code.focus(); complete(); });
  code.setSelectionRange(code.value.length, code.value.length);
  paint();
}

function chat() {
  const form = document.getElementById("chat-form");
  if (!form) return;
  const input = document.getElementById("chat-input");
  const log = document.getElementById("chat-log");
  const messages = [];
  const add = (role, text) => {
    const div = document.createElement("div");
    div.className = "msg " + role;
    div.textContent = text;
    log.appendChild(div);
    return div;
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    messages.push({ role: "user", content: text });
    add("user", text);
    const out = add("assistant", "");
    let answer = "";
    try {
      const res = await fetch("/v1/chat/completions", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ messages, stream: true }),
      });
      if (!res.ok) { out.textContent = await apiError(res); return; }
      await readEvents(res, (ev) => {
        for (const c of ev.choices || []) answer += (c.delta && c.delta.content) || "";
        out.textContent = answer;
      });
      messages.push({ role: "assistant", content: answer });
    } catch (err) {
      out.textContent = String(err);
    }
  });
}

playground();
chat();
