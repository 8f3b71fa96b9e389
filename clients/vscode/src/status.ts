// Agent status → status bar. Pure functions, tested without VS Code.

/** The states the status bar shows. */
export type StatusKind =
  | "starting"
  | "ready"
  | "fetching"
  | "disconnected"
  | "unauthorized"
  | "rateLimited"
  | "slow"
  | "noModel"
  | "disabled"
  | "agentMissing"
  | "agentCrashed"
  | "untrusted";

/** What the status bar item displays for a state. */
export interface StatusView {
  text: string;
  tooltip: string;
  /** Command run when the item is clicked. */
  command: string;
  /** A theme color id for the background, for states that need the user. */
  background?: string;
}

/**
 * parseStatus reads a `serval/status` notification. The agent sends
 * `{kind, message?}`; `status` is accepted for the same field.
 */
export function parseStatus(params: unknown): { kind: StatusKind; message: string } | undefined {
  if (typeof params !== "object" || params === null) {
    return undefined;
  }
  const p = params as Record<string, unknown>;
  const kind = typeof p.kind === "string" ? p.kind : typeof p.status === "string" ? p.status : undefined;
  if (kind === undefined || !(kind in views)) {
    return undefined;
  }
  return { kind: kind as StatusKind, message: typeof p.message === "string" ? p.message : "" };
}

/** The agent's default endpoint, when the setting is empty. */
export const defaultEndpoint = "http://127.0.0.1:8080";

const views: Record<StatusKind, (message: string, endpoint: string) => StatusView> = {
  starting: () => ({ text: "$(loading~spin) Serval", tooltip: "Serval: starting the agent", command: "serval.showLogs" }),
  ready: () => ({ text: "$(check) Serval", tooltip: "Serval: ready. Click for options.", command: "serval.showMenu" }),
  fetching: () => ({ text: "$(loading~spin) Serval", tooltip: "Serval: fetching a completion. Click for options.", command: "serval.showMenu" }),
  // The agent's own messages speak to every editor; these are VS Code's.
  disconnected: (_m, endpoint) => ({
    text: "$(debug-disconnect) Serval",
    tooltip: `Serval: the server is not responding at ${endpoint || defaultEndpoint}; retrying. Click for options.`,
    command: "serval.showMenu",
    background: "statusBarItem.warningBackground",
  }),
  unauthorized: () => ({
    text: "$(key) Serval",
    tooltip: "Serval: not signed in: the server refused the token, or none is set. Click to sign in.",
    command: "serval.startSignIn",
    background: "statusBarItem.errorBackground",
  }),
  rateLimited: (m) => ({
    text: "$(watch) Serval",
    tooltip: `Serval: rate limited by the server${m ? ` (${m})` : ""}; completions resume shortly.`,
    command: "serval.showLogs",
    background: "statusBarItem.warningBackground",
  }),
  slow: (m) => ({
    text: "$(clock) Serval",
    tooltip: `Serval: completions are slow${m ? `: ${m}` : ""}`,
    command: "serval.showLogs",
    background: "statusBarItem.warningBackground",
  }),
  noModel: (m) => ({
    text: "$(warning) Serval",
    tooltip: `Serval: the server has no completion model${m ? ` (${m})` : ""}`,
    command: "serval.showLogs",
    background: "statusBarItem.warningBackground",
  }),
  disabled: () => ({ text: "$(circle-slash) Serval", tooltip: "Serval: inline completion is off. Click for options.", command: "serval.showMenu" }),
  agentMissing: (m) => ({
    text: "$(error) Serval",
    tooltip: `Serval: serval-agent could not be started${m ? `: ${m}` : ""}. Set serval.agent.path.`,
    command: "serval.showLogs",
    background: "statusBarItem.errorBackground",
  }),
  untrusted: () => ({
    text: "$(shield) Serval",
    tooltip: "Serval: off in Restricted Mode. No code is sent until you trust this folder; click to manage workspace trust.",
    command: "workbench.trust.manage",
  }),
  agentCrashed: (m) => ({
    text: "$(error) Serval",
    tooltip: `Serval: serval-agent stopped${m ? `: ${m}` : ""}; restarting.`,
    command: "serval.restartAgent",
    background: "statusBarItem.errorBackground",
  }),
};

/** statusView maps a state to the status bar item; the message adds the reason, endpoint is the setting. */
export function statusView(kind: StatusKind, message = "", endpoint = ""): StatusView {
  return views[kind](message, endpoint);
}

/** One entry of the menu the status item opens. */
export interface MenuEntry {
  label: string;
  command: string;
}

/** menuEntries is the status item's menu: turning completions off is one choice among others, never a silent click. */
export function menuEntries(kind: StatusKind, disabled: boolean): MenuEntry[] {
  const entries: MenuEntry[] = [
    disabled
      ? { label: "$(check) Turn inline completions on", command: "serval.toggleInlineCompletion" }
      : { label: "$(circle-slash) Turn inline completions off", command: "serval.toggleInlineCompletion" },
  ];
  if (kind === "disconnected") {
    entries.unshift({ label: "$(gear) Set server URL", command: "serval.openEndpointSetting" });
  }
  entries.push(
    kind === "unauthorized" ? { label: "$(account) Sign in", command: "serval.startSignIn" } : { label: "$(sign-out) Sign out", command: "serval.signOut" },
    { label: "$(output) Show logs", command: "serval.showLogs" },
    { label: "$(settings) Open settings", command: "serval.openSettings" },
    { label: "$(debug-restart) Restart agent", command: "serval.restartAgent" },
  );
  return entries;
}
