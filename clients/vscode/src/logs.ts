// What reaches the Serval output channel: the agent's stderr lines at their own
// level, and nothing secret. Pure functions, tested without VS Code.

/** The levels of VS Code's LogOutputChannel that agent lines are written at. */
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error";

const redacted = "<redacted>";

// A JSON or key=value field that carries a secret, in traced LSP messages
// (initializationOptions, workspace/didChangeConfiguration, the sign-in answer)
// and in anything else written to the channel.
const secretField = /("(?:token|accessToken|access_token|password|authorization)"\s*:\s*)"(?:[^"\\]|\\.)*"/gi;
const secretHeader = /\b(Bearer\s+)[A-Za-z0-9._~+/=-]+/g;

/**
 * redact removes secrets from a line before it is written to the output channel
 * and its log file: the values of token and password fields, bearer credentials,
 * and each of the given known secrets wherever it appears.
 */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(secretField, `$1"${redacted}"`).replace(secretHeader, `$1${redacted}`);
  for (const s of secrets) {
    if (s.length >= 8) {
      out = out.split(s).join(redacted);
    }
  }
  return out;
}

/**
 * agentLogLine reads one line of the agent's stderr (Go's slog text format:
 * `time=… level=INFO msg=… key=value…`) into the level it was logged at and the
 * text without the time and level, which the output channel adds itself. A line
 * in another format (a panic, a message before the logger exists) is an error
 * when it looks like one and info otherwise.
 */
export function agentLogLine(line: string): { level: LogLevel; text: string } {
  const m = /^(?:time=\S+\s+)?level=(DEBUG|INFO|WARN|ERROR)(?:[+-]\d+)?\s*(.*)$/.exec(line);
  if (!m) {
    return { level: /^(panic|fatal|goroutine \d+|error)\b/i.test(line) ? "error" : "info", text: line };
  }
  const level = ({ DEBUG: "debug", INFO: "info", WARN: "warn", ERROR: "error" } as const)[m[1] as "DEBUG" | "INFO" | "WARN" | "ERROR"];
  return { level, text: m[2] };
}
