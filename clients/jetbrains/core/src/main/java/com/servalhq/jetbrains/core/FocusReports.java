package com.servalhq.jetbrains.core;

import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.function.Supplier;

/**
 * {@code serval/didFocus}: tells the agent where the user looks, so that it has the server evaluate the
 * prompt of that place before the first keystroke there (the agent's warm-up). Reported once the caret
 * has rested {@code restMillis}: an editor selected (opened or switched to), and a caret jump (leaving
 * the lines around the last reported place: a click, a search, go to definition). A caret move that
 * follows an edit of its document (typing, a paste) and a step to a neighbouring line are not jumps; an
 * edit drops a report still waiting for its document. Touched only on the control thread.
 */
final class FocusReports {
    static final String METHOD = "serval/didFocus";

    private final ControlThread control;
    private final DocumentSync documents;
    private final Supplier<AgentSession> readySession;
    private final long restMillis;

    private String lastUri;
    private int lastLine;
    /** Documents edited since their caret last moved: the next move is the edit's. */
    private final Set<String> editedSinceMove = new HashSet<>();
    private ScheduledFuture<?> pending;
    private String pendingUri;

    FocusReports(ControlThread control, DocumentSync documents, Supplier<AgentSession> readySession, long restMillis) {
        this.control = control;
        this.documents = documents;
        this.readySession = readySession;
        this.restMillis = restMillis;
    }

    /** The editor of {@code uri} was selected, its caret at {@code position}. */
    void editorSelected(String uri, Position position) {
        editedSinceMove.remove(uri);
        schedule(uri, position);
    }

    /** The caret of {@code uri}'s editor moved to {@code position}. */
    void caretMoved(String uri, Position position) {
        if (editedSinceMove.remove(uri) || (uri.equals(lastUri) && Math.abs(lastLine - position.line()) <= 1)) {
            cancel();
            lastUri = uri;
            lastLine = position.line();
            return;
        }
        schedule(uri, position);
    }

    /** {@code uri} changed. */
    void edited(String uri) {
        editedSinceMove.add(uri);
        if (uri.equals(pendingUri)) {
            cancel();
        }
    }

    /** {@code uri} was closed. */
    void closed(String uri) {
        editedSinceMove.remove(uri);
        if (uri.equals(pendingUri)) {
            cancel();
        }
        if (uri.equals(lastUri)) {
            lastUri = null;
        }
    }

    private void schedule(String uri, Position position) {
        cancel();
        pendingUri = uri;
        try {
            pending = control.schedule(() -> {
                pending = null;
                pendingUri = null;
                report(uri, position);
            }, restMillis);
        } catch (RejectedExecutionException e) {
            pendingUri = null; // shut down: nobody to tell
        }
    }

    private void cancel() {
        if (pending != null) {
            pending.cancel(false);
            pending = null;
        }
        pendingUri = null;
    }

    private void report(String uri, Position position) {
        lastUri = uri;
        lastLine = position.line();
        AgentSession s = readySession.get();
        if (s == null || !documents.isOpen(uri)) {
            return; // the agent completes only in documents it has
        }
        s.rpc().notify(METHOD, LspParams.focus(uri, position));
    }
}
