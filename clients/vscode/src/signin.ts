// Sign-in without copying a token: the agent's serval.signIn command (RFC 8628
// device authorization, see docs/agent.md). Pure functions, tested without VS Code.

/** The agent's command and the notification that carries the code to show. */
export const signInCommand = "serval.signIn";
export const signInNotification = "serval/signIn";
/** The agent's command that revokes its token on the server (Sign Out). */
export const signOutCommand = "serval.revokeToken";

/** What the user approves in the browser (the serval/signIn notification). */
export interface SignInPrompt {
  userCode: string;
  /** The page to open: the code already filled in when the server gives one. */
  uri: string;
  expiresIn: number;
}

/** A finished sign-in: the command's answer. */
export interface SignInResult {
  token: string;
  tokenName: string;
  user: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null;
}

const httpURL = (s: unknown): s is string => typeof s === "string" && /^https?:\/\/[^\s]+$/.test(s);

/** parseSignInPrompt reads a serval/signIn notification; undefined when it is not one. */
export function parseSignInPrompt(params: unknown): SignInPrompt | undefined {
  if (!isRecord(params) || typeof params.userCode !== "string" || params.userCode === "") {
    return undefined;
  }
  const uri = httpURL(params.verificationUriComplete) ? params.verificationUriComplete : params.verificationUri;
  if (!httpURL(uri)) {
    return undefined;
  }
  const expiresIn = typeof params.expiresIn === "number" && params.expiresIn > 0 ? params.expiresIn : 600;
  return { userCode: params.userCode, uri, expiresIn };
}

/** parseSignInResult reads the command's answer; undefined when it carries no token. */
export function parseSignInResult(result: unknown): SignInResult | undefined {
  if (!isRecord(result) || typeof result.token !== "string" || result.token.trim() === "") {
    return undefined;
  }
  return {
    token: result.token.trim(),
    tokenName: typeof result.tokenName === "string" ? result.tokenName : "",
    user: typeof result.user === "string" ? result.user : "",
  };
}

/** signInMessage is the notification shown while the user approves. */
export function signInMessage(p: SignInPrompt): string {
  // Shown under the progress title ("Serval sign-in:"), so it does not name Serval again.
  return `approve the code ${p.userCode} in your browser (${p.uri}); it expires in ${Math.round(p.expiresIn / 60)} minutes.`;
}

/** signedInMessage is shown once the token is stored. */
export function signedInMessage(r: SignInResult): string {
  const who = r.user ? ` as ${r.user}` : "";
  const name = r.tokenName ? ` (token “${r.tokenName}”)` : "";
  return `Serval: signed in${who}${name}.`;
}
