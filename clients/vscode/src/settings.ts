// Settings → what the agent is told. Pure functions, tested without VS Code.

/** The VS Code settings the extension reads (serval.*). */
export interface ExtensionSettings {
  endpoint: string;
  logLevel: string;
  agentPath: string;
}

/** The agent's initializationOptions and didChangeConfiguration payload (see docs/agent.md). */
export interface AgentOptions {
  server: { endpoint?: string; token?: string };
  client: { name: string; version: string };
}

/**
 * agentOptions builds what the agent receives. An empty endpoint or token is left
 * out, so the agent's own configuration (agent.toml, environment) still applies:
 * an empty value never overrides a set one.
 */
export function agentOptions(s: ExtensionSettings, token: string | undefined, client: { name: string; version: string }): AgentOptions {
  const server: AgentOptions["server"] = {};
  const endpoint = s.endpoint.trim();
  if (endpoint !== "") {
    server.endpoint = endpoint.replace(/\/+$/, "");
  }
  if (token !== undefined && token.trim() !== "") {
    server.token = token.trim();
  }
  return { server, client };
}

/** validateEndpoint returns an error message for a setting that is not an http(s) URL. */
export function validateEndpoint(endpoint: string): string | undefined {
  if (endpoint.trim() === "") {
    return undefined;
  }
  let u: URL;
  try {
    u = new URL(endpoint.trim());
  } catch {
    return `serval.server.endpoint "${endpoint}" is not a URL; use e.g. http://127.0.0.1:8080`;
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    return `serval.server.endpoint "${endpoint}" must start with http:// or https://`;
  }
  return undefined;
}

/** agentArgs are the command-line arguments the agent is started with. */
export function agentArgs(logLevel: string): string[] {
  const level = ["error", "warn", "info", "debug"].includes(logLevel) ? logLevel : "info";
  return ["--stdio", "--log-level", level];
}

/**
 * tokenVerdict says what the server made of a token just set: its answer to
 * GET /v1/health with it (a status code), or "unreachable".
 */
export function tokenVerdict(answer: number | "unreachable", endpoint: string): { ok: boolean; message: string } {
  if (answer === "unreachable") {
    return { ok: false, message: `Serval: token saved, but no server answers at ${endpoint}: check serval.server.endpoint.` };
  }
  if (answer >= 200 && answer < 300) {
    return { ok: true, message: `Serval: token accepted by ${endpoint}.` };
  }
  if (answer === 401 || answer === 403) {
    return { ok: false, message: `Serval: ${endpoint} rejected this token: check it on the server's Tokens page, or use Sign In.` };
  }
  return { ok: false, message: `Serval: token saved; ${endpoint} answered ${answer} to a health check.` };
}

/** unreachable tells a connection failure (no server at the URL) from other errors. */
export function unreachable(message: string): boolean {
  return /ECONNREFUSED|connection refused|no such host|ENOTFOUND|EHOSTUNREACH|network is unreachable|cannot reach|i\/o timeout|dial tcp/i.test(message);
}
