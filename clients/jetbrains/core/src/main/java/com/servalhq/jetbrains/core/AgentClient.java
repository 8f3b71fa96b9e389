package com.servalhq.jetbrains.core;

import com.google.gson.JsonObject;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The plugin's one handle on serval-agent: launches it, keeps it initialized and in sync with the open
 * documents, asks it for inline completions and reports what the user did with them.
 *
 * <p>Every public method returns at once (a {@link CompletableFuture} or nothing) and never throws; the
 * work runs on one {@link ControlThread} that owns all mutable state, so no lock is held by an IDE
 * thread and messages leave in the order the IDE made the calls (an edit is always sent before the
 * completion request that follows it). Status changes are delivered to listeners on that control
 * thread; the plugin hops to the UI thread itself.
 *
 * <p>Failures of the agent (not found, failed launch, exit, stdout garbage, initialize timeout) end the
 * session, set an {@link AgentStatus.Kind#AGENT_FAILED} or {@link AgentStatus.Kind#AGENT_NOT_FOUND}
 * status with the reason, and schedule a new start as the {@link RestartPolicy} allows. Documents open
 * at the time are opened again in the new session from their current text.
 *
 * <p>This class is the facade: each method moves to the control thread and hands over to the part that
 * owns the job: {@link SessionSupervisor} (the agent's lifecycle), {@link DocumentSync} (open documents),
 * {@link InlineCompletions} (requests in flight), {@link SignInFlow} (device sign-in),
 * {@link FocusReports} (where the user looks, for the agent's warm-up) and {@link IncomingMessages} (what the
 * agent sends on its own). {@link LspParams} builds what is sent.
 */
public final class AgentClient {
    private final ControlThread control;
    private final StatusPublisher status;
    private final DocumentSync documents;
    private final InlineCompletions completions;
    private final SignInFlow signIn;
    private final SessionSupervisor supervisor;
    private final FocusReports focus;
    /** Written on the control thread, read on the connection's reader thread (workspace/configuration). */
    private volatile ServerSettings server;

    public AgentClient(AgentClientOptions options) {
        AgentLog log = options.log;
        this.server = options.server;
        this.control = new ControlThread(log);
        this.status = new StatusPublisher(log);
        this.documents = new DocumentSync(log);
        this.completions = new InlineCompletions(control, options);
        this.signIn = new SignInFlow(control, log,
                token -> updateServerSettings(new ServerSettings(server.endpoint(), token)));
        IncomingMessages messages = new IncomingMessages(status, signIn, log, () -> server);
        this.supervisor = new SessionSupervisor(options, control, status, documents, completions, messages, () -> server);
        this.focus = new FocusReports(control, documents, supervisor::readySession, options.focusRestMillis);
    }

    // ---- lifecycle ----

    /**
     * Starts the agent. The future completes when it is initialized, or exceptionally when this first
     * attempt fails (restarts continue in the background; {@link #whenReady} follows them).
     */
    public CompletableFuture<Void> start() {
        return onControl(supervisor::start);
    }

    /** Completes when the agent is (or next becomes) initialized. */
    public CompletableFuture<Void> whenReady() {
        return onControl(supervisor::whenReady);
    }

    /** Ends the current agent and starts a fresh one at once, forgetting past failures (e.g. after a settings change). */
    public CompletableFuture<Void> restart() {
        return onControl(supervisor::restart);
    }

    /**
     * Shuts the agent down the LSP way (shutdown request, exit notification, end of stdin) and waits,
     * asynchronously, for it to exit; an agent that does not exit in time is killed. The future holds
     * the exit code (-1 when no agent was running). Terminal: the client cannot be started again.
     */
    public CompletableFuture<Integer> shutdown() {
        return onControl(supervisor::shutdown);
    }

    // ---- settings and status ----

    /** New endpoint/token: kept for the next start and sent to a running agent as workspace/didChangeConfiguration. */
    public CompletableFuture<Void> updateServerSettings(ServerSettings settings) {
        return onControl(result -> {
            server = settings;
            notifyIfReady("workspace/didChangeConfiguration", LspParams.didChangeConfiguration(settings), result);
        });
    }

    public AgentStatus status() {
        return status.current();
    }

    /** Listeners run on the client's control thread and must return quickly. */
    public void addStatusListener(Consumer<AgentStatus> listener) {
        status.addListener(listener);
    }

    public void removeStatusListener(Consumer<AgentStatus> listener) {
        status.removeListener(listener);
    }

    /** The running agent's process id, or -1 (for diagnostics and tests). */
    public CompletableFuture<Long> agentPid() {
        return onControl(result -> result.complete(supervisor.agentPid()));
    }

    // ---- documents ----

    /**
     * textDocument/didOpen. {@code currentText} is called only if the agent restarts, to open the
     * document again as it is then.
     */
    public CompletableFuture<Void> openDocument(String uri, String languageId, int version, String text, Supplier<String> currentText) {
        return onControl(result -> Futures.forward(
                documents.open(supervisor.readySession(), uri, languageId, version, text, currentText), result));
    }

    /**
     * textDocument/didChange with incremental changes (ranges in the text before each change). If the
     * agent asked for full sync, the document's current text is sent instead.
     */
    public CompletableFuture<Void> changeDocument(String uri, int version, List<TextChange> changes) {
        return onControl(result -> {
            focus.edited(uri);
            Futures.forward(documents.change(supervisor.readySession(), uri, version, changes), result);
        });
    }

    /** textDocument/didClose; the document's completion request in flight, if any, is cancelled. */
    public CompletableFuture<Void> closeDocument(String uri) {
        return onControl(result -> {
            completions.cancel(uri);
            focus.closed(uri);
            Futures.forward(documents.close(supervisor.readySession(), uri), result);
        });
    }

    // ---- focus (serval/didFocus: the agent warms the server before the first keystroke) ----

    /**
     * The editor of the open document {@code uri} was selected (opened or switched to), its caret at
     * {@code position}: reported to the agent once the caret rests.
     */
    public CompletableFuture<Void> editorSelected(String uri, Position position) {
        return onControl(result -> {
            focus.editorSelected(uri, position);
            result.complete(null);
        });
    }

    /**
     * The caret of {@code uri}'s editor moved to {@code position}: reported once it rests when it jumped
     * (not a move that follows an edit, reported by {@link #changeDocument} first, nor a step to a
     * neighbouring line).
     */
    public CompletableFuture<Void> caretMoved(String uri, Position position) {
        return onControl(result -> {
            focus.caretMoved(uri, position);
            result.complete(null);
        });
    }

    // ---- completion ----

    /**
     * textDocument/inlineCompletion at {@code position}. A newer request for the same document cancels
     * this one ({@code $/cancelRequest} goes to the agent and this future is cancelled); so does
     * cancelling the future. With no running agent the result is empty at once.
     */
    public CompletableFuture<InlineCompletionList> inlineCompletion(String uri, Position position, TriggerKind trigger) {
        return onControl(result -> {
            if (result.isDone()) {
                return; // cancelled by the caller before it reached the control thread
            }
            AgentSession s = supervisor.readySession();
            if (s == null || !documents.isOpen(uri)) {
                result.complete(InlineCompletionList.EMPTY);
                return;
            }
            completions.request(s, uri, position, trigger, result);
        });
    }

    /** textDocument/didShowCompletion: the item is on screen. */
    public CompletableFuture<Void> didShow(InlineCompletionItem item) {
        JsonObject params = LspParams.shownItem(item);
        return onControl(result -> notifyIfReady("textDocument/didShowCompletion", params, result));
    }

    /** The item was accepted in full: runs its command (workspace/executeCommand), if it has one. */
    public CompletableFuture<Void> accepted(InlineCompletionItem item) {
        Command command = item.command();
        if (command == null) {
            return CompletableFuture.completedFuture(null);
        }
        return onControl(result -> {
            AgentSession s = supervisor.readySession();
            if (s == null) {
                result.complete(null);
                return;
            }
            s.rpc().request("workspace/executeCommand", LspParams.executeCommand(command.command(), command.arguments()))
                    .whenComplete((r, e) -> Futures.complete(result, null, e));
        });
    }

    /**
     * Signs the IDE in to the server without a token to copy (the agent's {@code serval.signIn}):
     * {@code onPrompt} gets the code to show and the page to open (on the control thread: hand it to the
     * UI thread); once the user approved it in the browser, the new token is sent to the running agent
     * as the server token and kept for its restarts, and the result carries it for the IDE's password
     * safe. Cancelling the returned future cancels the sign-in ($/cancelRequest); a denied or expired
     * code completes it exceptionally with the agent's message.
     */
    public CompletableFuture<SignIn.Result> signIn(Consumer<SignIn.Prompt> onPrompt) {
        return onControl(result -> {
            AgentSession s = supervisor.readySession();
            if (s == null) {
                result.completeExceptionally(new IllegalStateException("serval-agent is not running"));
                return;
            }
            signIn.start(s, onPrompt, result);
        });
    }

    /** textDocument/didPartiallyAcceptCompletion: {@code acceptedLength} UTF-16 units from the start of the insert text. */
    public CompletableFuture<Void> partiallyAccepted(InlineCompletionItem item, int acceptedLength) {
        JsonObject params = LspParams.partiallyAccepted(item, acceptedLength);
        return onControl(result -> notifyIfReady("textDocument/didPartiallyAcceptCompletion", params, result));
    }

    // ---- plumbing ----

    /** Runs {@code task} on the control thread with the caller's future; whatever goes wrong completes it. */
    private <T> CompletableFuture<T> onControl(Consumer<CompletableFuture<T>> task) {
        CompletableFuture<T> result = new CompletableFuture<>();
        control.execute(() -> task.accept(result), result);
        return result;
    }

    /** Control thread: sends a notification to the ready agent; with none there is nobody to tell. */
    private void notifyIfReady(String method, JsonObject params, CompletableFuture<Void> result) {
        AgentSession s = supervisor.readySession();
        if (s == null) {
            result.complete(null);
            return;
        }
        Futures.forward(s.rpc().notify(method, params), result);
    }

    /** Why {@link #start} or {@link #whenReady} failed: the agent is missing or failed; a restart is scheduled. */
    public static final class AgentUnavailableException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        private final AgentStatus.Kind kind;

        AgentUnavailableException(AgentStatus.Kind kind, String message) {
            super(message);
            this.kind = kind;
        }

        public AgentStatus.Kind kind() {
            return kind;
        }
    }
}
