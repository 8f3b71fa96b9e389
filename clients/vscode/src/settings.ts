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
