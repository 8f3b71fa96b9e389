package com.servalhq.jetbrains.core;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

/**
 * Signing the IDE in to the server without a token to copy: the agent's {@code serval.signIn} command
 * (RFC 8628 device authorization; see docs/agent.md). While it runs, the agent's {@code serval/signIn}
 * notification carries the code to show and the page to open ({@link Prompt}); its answer carries the
 * new token ({@link Result}), which the IDE keeps in its password safe and passes back as the server token.
 */
public final class SignIn {
    private SignIn() {}

    /** The agent's command and notification. */
    public static final String COMMAND = "serval.signIn";
    public static final String NOTIFICATION = "serval/signIn";

    /** What the user approves in the browser: the code and the page (with the code filled in when the server gives one). */
    public record Prompt(String userCode, String uri, int expiresInSeconds) {
        /** Parses serval/signIn's params; null unless it has a code and an http(s) page. */
        public static Prompt fromJson(JsonElement params) {
            JsonObject o = Json.asObjectOrNull(params);
            String code = Json.stringOr(o, "userCode", "");
            String uri = Json.stringOr(o, "verificationUriComplete", "");
            if (!isHttp(uri)) {
                uri = Json.stringOr(o, "verificationUri", "");
            }
            if (code.isEmpty() || !isHttp(uri)) {
                return null;
            }
            int expires = Json.intOr(o, "expiresIn", 600);
            return new Prompt(code, uri, expires > 0 ? expires : 600);
        }

        /** The message shown while the user approves. */
        public String message() {
            return "Approve the code " + userCode + " in your browser (" + uri + "); it expires in " + Math.round(expiresInSeconds / 60.0) + " minutes.";
        }
    }

    /** A finished sign-in. The token is never part of {@link #toString()}. */
    public record Result(String token, String tokenName, String user, String endpoint) {
        /** Parses the command's answer; null when it carries no token. */
        public static Result fromJson(JsonElement answer) {
            JsonObject o = Json.asObjectOrNull(answer);
            String token = Json.stringOr(o, "token", "").trim();
            if (token.isEmpty()) {
                return null;
            }
            return new Result(token, Json.stringOr(o, "tokenName", ""), Json.stringOr(o, "user", ""), Json.stringOr(o, "endpoint", ""));
        }

        @Override
        public String toString() {
            return "SignIn.Result[user=" + user + ", tokenName=" + tokenName + ", endpoint=" + endpoint + ", token=<set>]";
        }
    }

    private static boolean isHttp(String uri) {
        return (uri.startsWith("http://") || uri.startsWith("https://")) && uri.chars().noneMatch(c -> c <= ' ');
    }
}
