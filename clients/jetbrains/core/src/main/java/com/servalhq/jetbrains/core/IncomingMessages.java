package com.servalhq.jetbrains.core;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;

import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * What the client does with the messages the agent sends on its own: status notifications become the
 * client's {@link AgentStatus}, sign-in prompts go to the sign-in in progress, log messages go to the
 * log, and the agent's requests to the editor (configuration, capability registration, edits) are
 * answered the way an editor without those features answers them.
 */
final class IncomingMessages {
    private final StatusPublisher status;
    private final SignInFlow signIn;
    private final AgentLog log;
    private final Supplier<ServerSettings> server;

    /** {@code server} is read on the connection's reader thread, so it must be safe to call there. */
    IncomingMessages(StatusPublisher status, SignInFlow signIn, AgentLog log, Supplier<ServerSettings> server) {
        this.status = status;
        this.signIn = signIn;
        this.log = log;
        this.server = server;
    }

    /** A notification from {@code s}'s agent. Control thread; ignored once the session is over. */
    void notification(AgentSession s, String method, JsonElement params) {
        if (s == null || s.ended) {
            return;
        }
        switch (method) {
            case "serval/status" -> {
                AgentStatus parsed = AgentStatus.fromServalStatus(params);
                if (parsed != null) {
                    s.sawServalStatus = true;
                    status.set(parsed.kind(), parsed.message());
                }
            }
            case SignIn.NOTIFICATION -> signIn.prompted(params);
            case "didChangeStatus", "$/didChangeStatus" -> {
                AgentStatus parsed = AgentStatus.fromDidChangeStatus(params);
                if (parsed != null && !s.sawServalStatus) {
                    status.set(parsed.kind(), parsed.message());
                }
            }
            case "window/logMessage", "window/showMessage" -> {
                JsonObject o = Json.asObjectOrNull(params);
                String message = "[serval-agent] " + Json.stringOr(o, "message", "");
                if (Json.intOr(o, "type", 4) <= 2) {
                    log.warn(message);
                } else {
                    log.info(message);
                }
            }
            default -> {
                // $/progress, telemetry and the like: nothing to show.
            }
        }
    }

    /**
     * Answers what the agent asks the editor. Runs on the connection's reader thread, so it touches no
     * control-thread state: the answer must not wait behind the client's own queued work.
     */
    CompletableFuture<JsonElement> request(String method, JsonElement params) {
        switch (method) {
            case "workspace/configuration": {
                JsonArray answer = new JsonArray();
                JsonObject p = Json.asObjectOrNull(params);
                JsonElement items = p == null ? null : p.get("items");
                ServerSettings current = server.get();
                if (items != null && items.isJsonArray()) {
                    for (JsonElement item : items.getAsJsonArray()) {
                        String section = Json.stringOr(Json.asObjectOrNull(item), "section", "");
                        answer.add(section.equals("serval") ? current.toJson() : JsonNull.INSTANCE);
                    }
                }
                return CompletableFuture.completedFuture(answer);
            }
            case "client/registerCapability", "client/unregisterCapability", "window/workDoneProgress/create",
                 "window/showMessageRequest":
                return CompletableFuture.completedFuture(JsonNull.INSTANCE);
            case "workspace/applyEdit": {
                JsonObject answer = new JsonObject();
                answer.addProperty("applied", false);
                answer.addProperty("failureReason", "Serval for JetBrains does not apply workspace edits");
                return CompletableFuture.completedFuture(answer);
            }
            default:
                return CompletableFuture.failedFuture(new ResponseError(ResponseError.METHOD_NOT_FOUND, "method not found: " + method, null));
        }
    }
}
