package com.servalhq.jetbrains.core;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

import java.util.Locale;

/** What the status bar shows: the agent's own status, or the client's view of the agent process. */
public record AgentStatus(Kind kind, String message) {
    public enum Kind {
        /** The agent is being located, launched or initialized. */
        STARTING("starting", false),
        /** The agent and the server are ready to complete. */
        READY("ready", false),
        /** The server cannot be reached; the agent retries by itself. */
        DISCONNECTED("disconnected", true),
        /** The server refused the token. */
        UNAUTHORIZED("unauthorized", true),
        /** The server's rate limit was hit. */
        RATE_LIMITED("rateLimited", true),
        /** Completions take longer than they should. */
        SLOW("slow", true),
        /** The server has no completion model loaded. */
        NO_MODEL("noModel", true),
        /** A completion is being fetched. */
        FETCHING("fetching", false),
        /** Copilot-style didChangeStatus kinds the agent may send instead of serval/status. */
        WARNING("warning", true),
        ERROR("error", true),
        INACTIVE("inactive", false),
        /** No serval-agent binary was found; nothing is retried until the settings change. */
        AGENT_NOT_FOUND("agentNotFound", true),
        /** The agent process failed (exit, crash, garbage on stdout); a restart is scheduled or exhausted. */
        AGENT_FAILED("agentFailed", true),
        /** The client was shut down. */
        STOPPED("stopped", false);

        private final String wireName;
        private final boolean problem;

        Kind(String wireName, boolean problem) {
            this.wireName = wireName;
            this.problem = problem;
        }

        /** The name used in serval/status notifications. */
        public String wireName() {
            return wireName;
        }

        /** Whether the status bar should draw attention to it. */
        public boolean isProblem() {
            return problem;
        }

        static Kind fromWire(String name) {
            if (name == null) {
                return null;
            }
            for (Kind k : values()) {
                if (k.wireName.equalsIgnoreCase(name)) {
                    return k;
                }
            }
            return switch (name.toLowerCase(Locale.ROOT)) {
                case "rate_limited", "ratelimited" -> RATE_LIMITED;
                case "no_model", "nomodel" -> NO_MODEL;
                case "normal" -> READY;
                default -> null;
            };
        }
    }

    /**
     * Parses the params of {@code serval/status}: {@code {kind|status: "ready"|..., message?}}. An
     * unknown kind is kept as WARNING with the raw name in the message so nothing is silently lost.
     */
    public static AgentStatus fromServalStatus(JsonElement params) {
        JsonObject o = Json.asObjectOrNull(params);
        String name = Json.stringOr(o, "kind", Json.stringOr(o, "status", null));
        String message = Json.stringOr(o, "message", "");
        if (name == null) {
            return null;
        }
        Kind kind = Kind.fromWire(name);
        if (kind == null) {
            return new AgentStatus(Kind.WARNING, message.isEmpty() ? name : name + ": " + message);
        }
        return new AgentStatus(kind, message);
    }

    /** Parses Copilot-style {@code didChangeStatus {kind: Normal|Error|Warning|Inactive, message}}. */
    public static AgentStatus fromDidChangeStatus(JsonElement params) {
        JsonObject o = Json.asObjectOrNull(params);
        String name = Json.stringOr(o, "kind", null);
        String message = Json.stringOr(o, "message", "");
        if (name == null) {
            return null;
        }
        Kind kind = switch (name.toLowerCase(Locale.ROOT)) {
            case "normal" -> Kind.READY;
            case "error" -> Kind.ERROR;
            case "warning" -> Kind.WARNING;
            case "inactive" -> Kind.INACTIVE;
            default -> null;
        };
        return kind == null ? null : new AgentStatus(kind, message);
    }

    @Override
    public String toString() {
        return message.isEmpty() ? kind.wireName() : kind.wireName() + ": " + message;
    }
}
