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
  | "agentCrashed";

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

const views: Record<StatusKind, (message: string) => StatusView> = {
  starting: () => ({ text: "$(loading~spin) Serval", tooltip: "Serval: starting the agent", command: "serval.showLogs" }),
  ready: () => ({ text: "$(check) Serval", tooltip: "Serval: ready", command: "serval.toggleInlineCompletion" }),
  fetching: () => ({ text: "$(loading~spin) Serval", tooltip: "Serval: fetching a completion", command: "serval.toggleInlineCompletion" }),
  disconnected: (m) => ({
    text: "$(debug-disconnect) Serval",
    tooltip: `Serval: cannot reach the server${m ? ` (${m})` : ""}. Check serval.server.endpoint.`,
    command: "serval.showLogs",
    background: "statusBarItem.warningBackground",
  }),
  unauthorized: (m) => ({
    text: "$(key) Serval",
    tooltip: `Serval: not signed in: the server refused the token${m ? ` (${m})` : ""}. Click to sign in.`,
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
  disabled: () => ({ text: "$(circle-slash) Serval", tooltip: "Serval: inline completion is off. Click to turn it on.", command: "serval.toggleInlineCompletion" }),
  agentMissing: (m) => ({
    text: "$(error) Serval",
    tooltip: `Serval: serval-agent could not be started${m ? `: ${m}` : ""}. Set serval.agent.path.`,
    command: "serval.showLogs",
    background: "statusBarItem.errorBackground",
  }),
  agentCrashed: (m) => ({
    text: "$(error) Serval",
    tooltip: `Serval: serval-agent stopped${m ? `: ${m}` : ""}; restarting.`,
    command: "serval.restartAgent",
    background: "statusBarItem.errorBackground",
  }),
};

/** statusView maps a state to the status bar item; the message adds the reason. */
export function statusView(kind: StatusKind, message = ""): StatusView {
  return views[kind](message);
}
