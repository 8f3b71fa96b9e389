package com.servalhq.jetbrains.core;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * The documents the IDE has open and the agent's copy of them: didOpen, didChange (incremental, or
 * the whole text for an agent that asked for full sync) and didClose to the running agent, and every
 * open document opened again, from its current text, in a restarted one. The client keeps no text of
 * its own: a restart asks the IDE for it. Touched only on the control thread.
 *
 * <p>Each call takes the ready session, or null when there is none: the document list is kept up to
 * date either way, and the returned future is the notification's write (already complete when
 * nothing was sent).
 */
final class DocumentSync {
    /** A document the IDE has open, kept so it can be opened again in a restarted agent. */
    private record OpenDocument(String uri, String languageId, int version, Supplier<String> currentText) {
    }

    private final AgentLog log;
    // Insertion order, so a restarted agent gets documents in the order the IDE opened them.
    private final Map<String, OpenDocument> documents = new LinkedHashMap<>();

    DocumentSync(AgentLog log) {
        this.log = log;
    }

    boolean isOpen(String uri) {
        return documents.containsKey(uri);
    }

    /** textDocument/didOpen. {@code currentText} is called only on a restart, to open the document again as it is then. */
    CompletableFuture<Void> open(AgentSession ready, String uri, String languageId, int version, String text, Supplier<String> currentText) {
        documents.put(uri, new OpenDocument(uri, languageId, version, currentText));
        if (ready == null) {
            return nothingSent();
        }
        return ready.rpc().notify("textDocument/didOpen", LspParams.didOpen(uri, languageId, version, text));
    }

    /**
     * textDocument/didChange with {@code changes} (ranges in the text before each change), or the
     * document's current text when the session asked for full sync. Nothing for a document not open.
     */
    CompletableFuture<Void> change(AgentSession ready, String uri, int version, List<TextChange> changes) {
        OpenDocument doc = documents.get(uri);
        if (doc == null) {
            return nothingSent();
        }
        documents.put(uri, new OpenDocument(uri, doc.languageId(), version, doc.currentText()));
        if (ready == null) {
            return nothingSent(); // reopened with its current text when the agent is back
        }
        JsonArray contentChanges = new JsonArray();
        if (ready.fullSync) {
            JsonObject full = new JsonObject();
            full.addProperty("text", doc.currentText().get());
            contentChanges.add(full);
        } else {
            for (TextChange change : changes) {
                contentChanges.add(change.toJson());
            }
        }
        return ready.rpc().notify("textDocument/didChange", LspParams.didChange(uri, version, contentChanges));
    }

    /** textDocument/didClose, and the document is forgotten. Nothing for a document not open. */
    CompletableFuture<Void> close(AgentSession ready, String uri) {
        if (documents.remove(uri) == null || ready == null) {
            return nothingSent();
        }
        return ready.rpc().notify("textDocument/didClose", LspParams.didClose(uri));
    }

    private static CompletableFuture<Void> nothingSent() {
        return CompletableFuture.completedFuture(null);
    }

    /**
     * Opens every document in a session that was just initialized (a first start or a restart), from
     * the IDE's current text. A document whose text cannot be read is left out rather than failing the
     * others.
     */
    void reopenAll(AgentSession session) {
        for (OpenDocument doc : documents.values()) {
            String text;
            try {
                text = doc.currentText().get();
            } catch (RuntimeException e) {
                log.error("could not read " + doc.uri() + " to reopen it", e);
                continue;
            }
            session.rpc().notify("textDocument/didOpen", LspParams.didOpen(doc.uri(), doc.languageId(), doc.version(), text));
        }
    }

    /** Whether the agent's initialize capabilities ask for whole-text changes (TextDocumentSyncKind.Full). */
    static boolean wantsFullSync(JsonObject capabilities) {
        return syncKind(capabilities) == 1;
    }

    private static int syncKind(JsonObject capabilities) {
        JsonElement sync = capabilities == null ? null : capabilities.get("textDocumentSync");
        if (sync != null && sync.isJsonPrimitive() && sync.getAsJsonPrimitive().isNumber()) {
            return sync.getAsInt();
        }
        return Json.intOr(Json.asObjectOrNull(sync), "change", 2);
    }
}
