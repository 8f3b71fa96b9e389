// Serval for VS Code: a thin shell around serval-agent. It launches the agent over
// stdio, passes settings and the token (kept in SecretStorage), shows the agent's
// status, and lets VS Code's own inline-suggestion UI, fed by vscode-languageclient,
// do the rest. Completion logic lives in the agent, not here.
import * as cp from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as readline from "node:readline";
import type { Readable } from "node:stream";
import * as vscode from "vscode";
import {
  CloseAction,
  ErrorAction,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";
import { findAgent } from "./binary";
import { focusNotification, FocusReporter, Place } from "./focus";
import { agentLogLine, redact } from "./logs";
import { acceptedLength, ShownItem } from "./partial";
import { Cycle, renderable, visible } from "./shown";
import { RestartPolicy } from "./restart";
import { agentArgs, agentOptions, AgentOptions, ExtensionSettings, tokenVerdict, unreachable, validateEndpoint } from "./settings";
import { parseSignInPrompt, parseSignInResult, signedInMessage, signInCommand, signInMessage, signInNotification, signOutCommand } from "./signin";
import { defaultEndpoint, menuEntries, parseStatus, StatusKind, statusView } from "./status";

const tokenKey = "serval.token";
/** Set while the stored token is one a sign-in made: Sign Out revokes that one on the server. */
const signedInKey = "serval.tokenFromSignIn";

class Serval implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private readonly log: vscode.LogOutputChannel;
  private readonly item: vscode.StatusBarItem;
  private readonly policy = new RestartPolicy();
  private agentStatus: { kind: StatusKind; message: string } = { kind: "starting", message: "" };
  private inFlight = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  /** The sign-in in progress, if any: a second one replaces it. */
  private signingIn: vscode.CancellationTokenSource | undefined;
  /**
   * The suggestions VS Code renders per document, and the one on screen (the
   * first, or the one the user cycled to), to report it as shown and to
   * notice a partial acceptance of it.
   */
  private readonly shown = new Map<string, { version: number; cycle: Cycle<ShownItem & { protocolItem: unknown; renders: boolean }> }>();
  private readonly disposables: vscode.Disposable[] = [];
  /** The token last passed to the agent, kept out of the output channel. */
  private knownToken = "";
  /** Whether this window already offered to set the server URL (first run, no server at the default). */
  private offeredEndpoint = false;
  /** Tells the agent where the user looks, so it can warm the server before the first keystroke. */
  private readonly focus = new FocusReporter((p) => {
    if (this.client?.isRunning()) void this.client.sendNotification(focusNotification, p);
  });

  constructor(private readonly context: vscode.ExtensionContext) {
    this.log = redacting(vscode.window.createOutputChannel("Serval", { log: true }), () => [this.knownToken]);
    this.item = vscode.window.createStatusBarItem("serval.status", vscode.StatusBarAlignment.Right, 100);
    this.item.name = "Serval";
    this.render();
    this.item.show();
    this.disposables.push(
      this.log,
      this.item,
      vscode.commands.registerCommand("serval.toggleInlineCompletion", () => this.toggle()),
      // The agent's own command id (serval.signIn) is registered by the language client.
      vscode.commands.registerCommand("serval.startSignIn", () => this.signIn()),
      vscode.commands.registerCommand("serval.setToken", () => this.setToken()),
      vscode.commands.registerCommand("serval.signOut", () => this.signOut()),
      vscode.commands.registerCommand("serval.showLogs", () => this.log.show(true)),
      // Alt+] and Alt+[ (package.json): VS Code's own cycling, then the item now on screen is reported shown.
      vscode.commands.registerCommand("serval.nextSuggestion", () => this.cycle(1)),
      vscode.commands.registerCommand("serval.previousSuggestion", () => this.cycle(-1)),
      vscode.commands.registerCommand("serval.showMenu", () => this.showMenu()),
      vscode.commands.registerCommand("serval.openEndpointSetting", () =>
        vscode.commands.executeCommand("workbench.action.openSettings", "serval.server.endpoint")),
      vscode.commands.registerCommand("serval.openSettings", () =>
        vscode.commands.executeCommand("workbench.action.openSettings", "@ext:servalhq.serval")),
      vscode.commands.registerCommand("serval.restartAgent", () => {
        this.policy.reset();
        return this.restart();
      }),
      vscode.workspace.onDidChangeConfiguration((e) => this.onConfigChange(e)),
      vscode.workspace.onDidChangeTextDocument((e) => this.onDocumentChange(e)),
      vscode.workspace.onDidCloseTextDocument((d) => {
        this.shown.delete(d.uri.toString());
        if (this.client) this.focus.closed(this.client.code2ProtocolConverter.asUri(d.uri));
      }),
      vscode.window.onDidChangeActiveTextEditor((e) => {
        const p = e && this.place(e);
        if (p) this.focus.activated(p);
      }),
      vscode.window.onDidChangeTextEditorSelection((e) => {
        const p = e.textEditor === vscode.window.activeTextEditor ? this.place(e.textEditor) : undefined;
        if (p) this.focus.moved(p);
      }),
      { dispose: () => this.focus.dispose() },
      // Restricted Mode: the agent starts only once the user trusts the folder.
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        this.log.info("workspace trusted: starting serval-agent");
        void this.restart();
      }),
    );
  }

  private settings(): ExtensionSettings {
    const c = vscode.workspace.getConfiguration("serval");
    return {
      endpoint: c.get<string>("server.endpoint", ""),
      logLevel: c.get<string>("agent.logLevel", "info"),
      agentPath: c.get<string>("agent.path", ""),
    };
  }

  private async options(): Promise<AgentOptions> {
    const token = await this.context.secrets.get(tokenKey);
    this.knownToken = token?.trim() ?? "";
    return agentOptions(this.settings(), token, { name: vscode.env.appName, version: vscode.version });
  }

  /**
   * place is where a focus report for editor would point: its cursor, when it has
   * one (no selection), the agent runs and completes in the document.
   */
  private place(editor: vscode.TextEditor): Place | undefined {
    const d = editor.document;
    if (!this.client?.isRunning() || editor.selections.length !== 1 || !editor.selection.isEmpty ||
      (d.uri.scheme !== "file" && d.uri.scheme !== "untitled") || !this.enabledFor(d) || this.disabledGlobally()) {
      return undefined;
    }
    const pos = this.client.code2ProtocolConverter.asPosition(editor.selection.active);
    return { uri: this.client.code2ProtocolConverter.asUri(d.uri), line: pos.line, character: pos.character };
  }

  private enabledFor(document: vscode.TextDocument): boolean {
    return vscode.workspace.getConfiguration("serval", document).get<boolean>("inlineCompletion.enabled", true);
  }

  /** warnBadEndpoint tells the user at once when the endpoint setting is not an http(s) URL. */
  private warnBadEndpoint(endpoint: string) {
    const bad = validateEndpoint(endpoint);
    if (bad) {
      this.log.warn(bad);
      void vscode.window.showWarningMessage(`Serval: ${bad}`, "Open Settings").then((c) => {
        if (c) void vscode.commands.executeCommand("serval.openEndpointSetting");
      });
    }
    return bad;
  }

  async start(): Promise<void> {
    if (!vscode.workspace.isTrusted) {
      // The package promises code from trusted workspaces only: no agent, so no
      // document reaches it and no request reaches the server.
      this.setStatus("untrusted", "");
      this.log.info("Restricted Mode: Serval sends no code until this folder is trusted");
      return;
    }
    const s = this.settings();
    this.warnBadEndpoint(s.endpoint);
    const found = findAgent(s.agentPath, this.context.extensionPath, {
      isExecutable: (f) => {
        try {
          fs.accessSync(f, fs.constants.X_OK);
          return fs.statSync(f).isFile();
        } catch {
          return false;
        }
      },
      readHead: (f) => {
        try {
          const fd = fs.openSync(f, "r");
          try {
            const buf = Buffer.alloc(512);
            return buf.subarray(0, fs.readSync(fd, buf, 0, 512, 0));
          } finally {
            fs.closeSync(fd);
          }
        } catch {
          return undefined;
        }
      },
      bundledPlatforms: () => {
        try {
          return fs.readdirSync(path.join(this.context.extensionPath, "bin")).sort();
        } catch {
          return [];
        }
      },
      isQuarantined: (f) =>
        // xattr -p exits 0 when the attribute is set; only macOS has it.
        process.platform === "darwin" && cp.spawnSync("/usr/bin/xattr", ["-p", "com.apple.quarantine", f], { stdio: "ignore", timeout: 5000 }).status === 0,
      env: { PATH: process.env.PATH },
      platform: process.platform,
      arch: process.arch,
    });
    if ("error" in found) {
      this.setStatus("agentMissing", found.error);
      this.log.appendLine(found.error);
      const choice = await vscode.window.showErrorMessage(found.error, "Open Settings");
      if (choice) {
        await vscode.commands.executeCommand("workbench.action.openSettings", "serval.agent.path");
      }
      return;
    }
    this.log.appendLine(`starting ${found.path} (${found.source})`);
    const server: ServerOptions = { command: found.path, args: agentArgs(s.logLevel), transport: TransportKind.stdio };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
      initializationOptions: await this.options(),
      outputChannel: this.log,
      // The agent logs in slog's text format: each line at its own level, not all as errors.
      stdioOptions: {
        stdout: (input, channel) => forEachLine(input, (line) => channel.info(line)),
        stderr: (input, channel) => forEachLine(input, (line) => {
          const { level, text } = agentLogLine(line);
          channel[level](text);
        }),
      },
      revealOutputChannelOn: 4, // never: the status bar tells, the log explains
      errorHandler: {
        error: () => ({ action: ErrorAction.Continue, handled: true }),
        closed: () => this.onAgentClosed(),
      },
      middleware: {
        provideInlineCompletionItems: async (document, position, context, token, next) => {
          if (!vscode.workspace.isTrusted || !this.enabledFor(document) || this.disabledGlobally()) {
            return null;
          }
          this.inFlight++;
          this.render();
          try {
            const version = document.version;
            const result = await next(document, position, context, token);
            if (!token.isCancellationRequested && document.version === version) {
              this.remember(document, position, result);
            }
            return result;
          } finally {
            this.inFlight--;
            this.render();
          }
        },
      },
    };
    const client = new LanguageClient("serval", "Serval", server, clientOptions);
    // Registered before start: the agent reports its first status during initialize.
    client.onNotification("serval/status", (params: unknown) => {
      const st = parseStatus(params);
      if (st) this.setStatus(st.kind, st.message);
    });
    this.client = client;
    try {
      await client.start();
      // The editor the user already looks at (VS Code restored it before the agent ran).
      const active = vscode.window.activeTextEditor;
      const p = active && this.place(active);
      if (p) this.focus.activated(p);
    } catch (err) {
      this.log.appendLine(`serval-agent failed to start: ${String(err)}`);
      this.setStatus("agentCrashed", String(err));
    }
  }

  private disabledGlobally(): boolean {
    return this.context.globalState.get<boolean>("serval.disabled", false);
  }

  private onAgentClosed() {
    if (this.stopping) {
      return { action: CloseAction.DoNotRestart, handled: true };
    }
    const delay = this.policy.onCrash(Date.now());
    if (delay === undefined) {
      this.setStatus("agentCrashed", "it stopped too often in the last minute; use Serval: Restart Agent");
      this.log.appendLine("serval-agent stopped too often; not restarting. Run 'Serval: Restart Agent' once it is fixed.");
      return { action: CloseAction.DoNotRestart, handled: true };
    }
    this.setStatus("agentCrashed", `restarting in ${delay / 1000} s`);
    this.restartTimer = setTimeout(() => void this.restart(), delay);
    return { action: CloseAction.DoNotRestart, handled: true };
  }

  /**
   * remember keeps the items VS Code keeps at position, in its order (it drops
   * those whose edit does not fit the text around the cursor, as one whose
   * range covers an auto-closed bracket its text does not keep), and tells the
   * agent the first is shown if VS Code draws it.
   */
  private remember(
    document: vscode.TextDocument,
    position: vscode.Position,
    result: vscode.InlineCompletionItem[] | vscode.InlineCompletionList | null | undefined,
  ) {
    const key = document.uri.toString();
    const client = this.client;
    if (!client) {
      this.shown.delete(key);
      return;
    }
    const text = document.getText();
    const cursor = document.offsetAt(position);
    const items = (Array.isArray(result) ? result : result?.items ?? []).flatMap((item) => {
      if (typeof item.insertText !== "string") return [];
      const range = item.range ?? new vscode.Range(position, position);
      const start = document.offsetAt(range.start);
      const end = document.offsetAt(range.end);
      const candidate = { insertText: item.insertText, start, end };
      if (!visible(text, cursor, candidate)) {
        this.log.debug(`VS Code drops this suggestion, not reported shown: ${JSON.stringify(item.insertText)} over ${JSON.stringify(text.slice(start, end))}`);
        return [];
      }
      const protocolItem = {
        insertText: item.insertText,
        range: client.code2ProtocolConverter.asRange(range),
        command: item.command ? { title: item.command.title, command: item.command.command, arguments: item.command.arguments } : undefined,
      };
      return [{ insertText: item.insertText, startOffset: start, replaced: text.slice(start, end), protocolItem, renders: renderable(text, cursor, candidate) }];
    });
    if (items.length === 0) {
      this.shown.delete(key);
      return;
    }
    const cycle = new Cycle(items);
    this.shown.set(key, { version: document.version, cycle });
    this.reportShown(cycle.current());
  }

  /** reportShown tells the agent the item on screen is shown, unless VS Code keeps it but draws nothing for it. */
  private reportShown(item: { protocolItem: unknown; renders: boolean } | undefined) {
    if (item?.renders && this.client) {
      void this.client.sendNotification("textDocument/didShowCompletion", { item: item.protocolItem });
    }
  }

  /** cycle runs VS Code's next/previous suggestion and reports the one it shows now. */
  private async cycle(step: 1 | -1) {
    await vscode.commands.executeCommand(step > 0 ? "editor.action.inlineSuggest.showNext" : "editor.action.inlineSuggest.showPrevious");
    const editor = vscode.window.activeTextEditor;
    const state = editor && this.shown.get(editor.document.uri.toString());
    if (!state || state.version !== editor.document.version) return;
    this.reportShown(state.cycle.move(step));
  }

  private onDocumentChange(e: vscode.TextDocumentChangeEvent) {
    const key = e.document.uri.toString();
    const state = this.shown.get(key);
    const item = state?.cycle.current();
    if (!item || e.contentChanges.length !== 1 || !this.client) {
      return;
    }
    this.shown.delete(key);
    const n = acceptedLength(item, e.contentChanges[0]);
    if (n > 0) {
      void this.client.sendNotification("textDocument/didPartiallyAcceptCompletion", { item: item.protocolItem, acceptedLength: n });
    }
  }

  private setStatus(kind: StatusKind, message: string) {
    this.agentStatus = { kind, message };
    this.render();
    if (kind === "disconnected" && !this.offeredEndpoint && this.settings().endpoint.trim() === "") {
      // First run against a server elsewhere: the agent tried the default URL.
      this.offeredEndpoint = true;
      void vscode.window
        .showWarningMessage(`Serval: no server answers at ${defaultEndpoint}. Where does serval run?`, "Set Server URL", "Sign In")
        .then((c) => {
          if (c === "Set Server URL") void vscode.commands.executeCommand("serval.openEndpointSetting");
          if (c === "Sign In") void this.signIn();
        });
    }
  }

  private async showMenu() {
    const entries = menuEntries(this.agentStatus.kind, this.disabledGlobally());
    const picked = await vscode.window.showQuickPick(entries, { title: statusView(this.agentStatus.kind, "", this.settings().endpoint).tooltip });
    if (picked) await vscode.commands.executeCommand(picked.command);
  }

  private render() {
    let kind = this.agentStatus.kind;
    if (this.disabledGlobally() && (kind === "ready" || kind === "fetching")) {
      kind = "disabled";
    } else if (kind === "ready" && this.inFlight > 0) {
      kind = "fetching";
    }
    const v = statusView(kind, this.agentStatus.message, this.settings().endpoint.trim());
    this.item.text = v.text;
    this.item.tooltip = v.tooltip;
    this.item.command = v.command;
    this.item.backgroundColor = v.background ? new vscode.ThemeColor(v.background) : undefined;
    this.item.accessibilityInformation = { label: v.tooltip };
  }

  private async toggle() {
    await this.context.globalState.update("serval.disabled", !this.disabledGlobally());
    this.render();
  }

  private async setToken() {
    const token = await vscode.window.showInputBox({
      title: "Serval: Set Token",
      prompt: "Paste a token from the server's web page (Tokens), or use Serval: Sign In, with no token to copy",
      password: true,
      ignoreFocusOut: true,
      validateInput: (v) => (v.trim() === "" ? "The token is empty" : undefined),
    });
    if (token === undefined) {
      return;
    }
    await this.context.secrets.store(tokenKey, token.trim());
    await this.context.secrets.delete(signedInKey); // a pasted token is not revoked on Sign Out
    await this.pushConfiguration();
    // Say at once whether the server takes it: the agent's status may not change
    // (a wrong token after a missing one is still "unauthorized").
    const endpoint = this.settings().endpoint.trim().replace(/\/+$/, "") || defaultEndpoint;
    let answer: number | "unreachable";
    try {
      answer = (await fetch(`${endpoint}/v1/health`, { headers: { Authorization: `Bearer ${token.trim()}` }, signal: AbortSignal.timeout(10_000) })).status;
    } catch {
      answer = "unreachable";
    }
    const v = tokenVerdict(answer, endpoint);
    this.log.info(v.message);
    if (v.ok) {
      void vscode.window.showInformationMessage(v.message);
    } else {
      void vscode.window.showWarningMessage(v.message, ...(answer === "unreachable" ? ["Open Settings"] : ["Sign In", "Set Token"])).then((c) => {
        if (c === "Open Settings") void vscode.commands.executeCommand("serval.openEndpointSetting");
        if (c === "Sign In") void this.signIn();
        if (c === "Set Token") void this.setToken();
      });
    }
  }

  /**
   * signIn runs the agent's device sign-in: it shows the code, opens the server's
   * page in the browser, and stores the token the agent receives once the user
   * approved, as Set Token does. Cancelling the notification cancels the command.
   */
  private async signIn() {
    if (!this.client || !this.client.isRunning()) {
      await this.restart();
    }
    const client = this.client;
    if (!client || !client.isRunning()) {
      void vscode.window.showErrorMessage("Serval: serval-agent is not running; see Serval: Show Logs.");
      return;
    }
    this.signingIn?.cancel();
    const cts = new vscode.CancellationTokenSource();
    this.signingIn = cts;
    try {
      const answer = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: "Serval sign-in:", cancellable: true },
        async (progress, cancel) => {
          cancel.onCancellationRequested(() => cts.cancel());
          const shown = client.onNotification(signInNotification, (params: unknown) => {
            const p = parseSignInPrompt(params);
            if (!p) return;
            progress.report({ message: signInMessage(p) });
            this.log.info(`sign-in: code ${p.userCode}, opening ${p.uri}`);
            void vscode.env.openExternal(vscode.Uri.parse(p.uri, true));
          });
          try {
            return await client.sendRequest(ExecuteCommandRequest.type, { command: signInCommand, arguments: [] }, cts.token);
          } finally {
            shown.dispose();
          }
        },
      );
      const r = parseSignInResult(answer);
      if (!r) {
        throw new Error("the agent's answer has no token");
      }
      await this.context.secrets.store(tokenKey, r.token);
      await this.context.secrets.store(signedInKey, "1");
      await this.pushConfiguration();
      this.log.info(`signed in as ${r.user} (token ${r.tokenName})`);
      void vscode.window.showInformationMessage(signedInMessage(r));
    } catch (err) {
      if (!cts.token.isCancellationRequested) {
        const msg = err instanceof Error ? err.message : String(err);
        this.log.error(`sign-in failed: ${msg}`);
        // No server to sign in to: the URL is what needs fixing, not the token.
        const fix = unreachable(msg) || this.agentStatus.kind === "disconnected" ? "Open Settings" : "Set Token";
        void vscode.window.showErrorMessage(`Serval: sign-in failed: ${msg}`, fix).then((c) => {
          if (c === "Open Settings") void vscode.commands.executeCommand("serval.openEndpointSetting");
          if (c === "Set Token") void this.setToken();
        });
      }
    } finally {
      if (this.signingIn === cts) this.signingIn = undefined;
      cts.dispose();
    }
  }

  /**
   * signOut forgets the token. One a sign-in made is this device's alone:
   * the agent revokes it on the server first, so it stops working there too.
   * A pasted token may serve elsewhere, so it is only forgotten.
   */
  private async signOut() {
    const client = this.client;
    if ((await this.context.secrets.get(signedInKey)) && client?.isRunning()) {
      try {
        const r = (await client.sendRequest(ExecuteCommandRequest.type, { command: signOutCommand, arguments: [] })) as { revoked?: boolean } | null;
        this.log.info(r?.revoked ? "signed out: the server revoked this device's token" : "signed out: there was no token to revoke");
      } catch (err) {
        // Forget it anyway: the user asked to sign out. Say where to revoke it.
        const msg = err instanceof Error ? err.message : String(err);
        this.log.warn(`sign-out: the server did not revoke the token: ${msg}`);
        void vscode.window.showWarningMessage("Serval: signed out here, but the server did not revoke the token: revoke it on the server's Tokens page.");
      }
    }
    await this.context.secrets.delete(signedInKey);
    await this.context.secrets.delete(tokenKey);
    // An empty token never overrides a set one in the agent, so forgetting it needs a fresh agent.
    await this.restart();
  }

  private async pushConfiguration() {
    if (!this.client || !this.client.isRunning()) {
      return this.restart();
    }
    await this.client.sendNotification("workspace/didChangeConfiguration", { settings: { serval: await this.options() } });
  }

  private async onConfigChange(e: vscode.ConfigurationChangeEvent) {
    if (e.affectsConfiguration("serval.agent.path") || e.affectsConfiguration("serval.agent.logLevel")) {
      await this.restart();
    } else if (e.affectsConfiguration("serval.server")) {
      if (this.warnBadEndpoint(this.settings().endpoint)) {
        return; // the agent keeps the URL it has until the setting is one
      }
      await this.pushConfiguration();
    } else if (e.affectsConfiguration("serval.inlineCompletion")) {
      this.render();
    }
  }

  async restart() {
    clearTimeout(this.restartTimer);
    await this.stop();
    this.stopping = false;
    this.setStatus("starting", "");
    await this.start();
  }

  async stop() {
    this.stopping = true;
    const c = this.client;
    this.client = undefined;
    if (c) {
      try {
        await c.stop(5000);
      } catch (err) {
        this.log.appendLine(`stopping serval-agent: ${String(err)}`);
      }
    }
  }

  dispose() {
    clearTimeout(this.restartTimer);
    for (const d of this.disposables) d.dispose();
  }
}

let serval: Serval | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  serval = new Serval(context);
  context.subscriptions.push(serval);
  await serval.start();
}

export async function deactivate(): Promise<void> {
  await serval?.stop();
}

function forEachLine(input: Readable, fn: (line: string) => void) {
  readline.createInterface({ input, crlfDelay: Infinity, terminal: false, historySize: 0 }).on("line", fn);
}

/**
 * redacting wraps the output channel so that no secret reaches it or its log
 * file: traced LSP messages carry the token in initializationOptions,
 * workspace/didChangeConfiguration and the sign-in answer.
 */
function redacting(channel: vscode.LogOutputChannel, secrets: () => readonly string[]): vscode.LogOutputChannel {
  const writers = new Set(["append", "appendLine", "replace", "trace", "debug", "info", "warn", "error"]);
  return new Proxy(channel, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== "function") {
        return value;
      }
      if (typeof prop === "string" && writers.has(prop)) {
        return (message: unknown, ...rest: unknown[]) =>
          value.call(target, typeof message === "string" ? redact(message, secrets()) : message, ...rest);
      }
      return value.bind(target);
    },
  });
}
