package com.servalhq.jetbrains.core;

import com.google.gson.JsonElement;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Inline completion requests in flight, at most one per document: a newer request for the same
 * document, closing the document, the end of the session or the caller cancelling its future cancels
 * the older one, and the agent gets {@code $/cancelRequest} so it stops working on it. A request the
 * agent does not answer in time fails instead of leaving the IDE waiting. Touched only on the control
 * thread.
 */
final class InlineCompletions {
    private final ControlThread control;
    private final AgentClientOptions options;
    private final Map<String, CompletableFuture<InlineCompletionList>> inFlight = new HashMap<>();

    InlineCompletions(ControlThread control, AgentClientOptions options) {
        this.control = control;
        this.options = options;
    }

    /** Sends textDocument/inlineCompletion for {@code uri} to {@code session}; its answer completes {@code result}. */
    void request(AgentSession session, String uri, Position position, TriggerKind trigger, CompletableFuture<InlineCompletionList> result) {
        CompletableFuture<InlineCompletionList> superseded = inFlight.put(uri, result);
        if (superseded != null) {
            superseded.cancel(false);
        }
        CompletableFuture<JsonElement> request = session.rpc().request("textDocument/inlineCompletion",
                LspParams.inlineCompletion(uri, position, trigger));
        request.whenComplete((r, e) -> {
            if (e == null) {
                result.complete(InlineCompletionList.fromJson(r));
            } else if (Futures.unwrap(e) instanceof ResponseError re && re.code() == ResponseError.REQUEST_CANCELLED) {
                result.cancel(false);
            } else {
                result.completeExceptionally(Futures.unwrap(e));
            }
        });
        result.orTimeout(options.completionTimeoutMillis, TimeUnit.MILLISECONDS);
        result.whenComplete((r, e) -> {
            request.cancel(false); // no-op when answered; otherwise sends $/cancelRequest
            control.execute(() -> inFlight.remove(uri, result), null);
        });
    }

    /** The document was closed: its request, if any, is cancelled. */
    void cancel(String uri) {
        CompletableFuture<InlineCompletionList> running = inFlight.remove(uri);
        if (running != null) {
            running.cancel(false);
        }
    }

    /** The session ended or the client is shutting down: every request is cancelled. */
    void cancelAll() {
        List<CompletableFuture<InlineCompletionList>> running = new ArrayList<>(inFlight.values());
        inFlight.clear();
        running.forEach(f -> f.cancel(false));
    }
}
