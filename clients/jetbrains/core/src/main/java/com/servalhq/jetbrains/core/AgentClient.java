package com.servalhq.jetbrains.core;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * The plugin's one handle on serval-agent: launches it, keeps it initialized and in sync with the open
 * documents, asks it for inline completions and reports what the user did with them.
 *
 * <p>Every public method returns at once (a {@link CompletableFuture} or nothing) and never throws; the
 * work runs on one control thread that owns all mutable state, so no lock is held by an IDE thread and
 * messages leave in the order the IDE made the calls (an edit is always sent before the completion
 * request that follows it). Status changes are delivered to listeners on that control thread; the
 * plugin hops to the UI thread itself.
 *
 * <p>Failures of the agent (not found, failed launch, exit, stdout garbage, initialize timeout) end the
 * session, set an {@link AgentStatus.Kind#AGENT_FAILED} or {@link AgentStatus.Kind#AGENT_NOT_FOUND}
 * status with the reason, and schedule a new start as the {@link RestartPolicy} allows. Documents open
 * at the time are opened again in the new session from their current text.
 */
public final class AgentClient {
    /** How the client finds, starts and talks to the agent. */
    public static final class Options {
        Supplier<AgentLocator.Result> locator = () -> new AgentLocator(null, null, System.getenv("PATH"),
                AgentLocator.currentOs(), AgentLocator.currentArch()).locate();
        List<String> agentArgs = List.of("--stdio");
        Map<String, String> environment = Map.of();
        Path workingDir;
        String rootUri;
        String clientName = "Serval for JetBrains";
        String clientVersion = "dev";
        ServerSettings server = ServerSettings.NONE;
        RestartPolicy restartPolicy = RestartPolicy.standard();
        AgentLog log = AgentLog.stderr();
        LongSupplier clock = System::currentTimeMillis;
        long initializeTimeoutMillis = 20_000;
        long shutdownTimeoutMillis = 3_000;
        long completionTimeoutMillis = 15_000;
        int garbageLimit = 100;

        /** Evaluated at every start, so changed settings apply on the next (re)start. */
        public Options locator(Supplier<AgentLocator.Result> locator) {
            this.locator = Objects.requireNonNull(locator);
            return this;
        }

        public Options agentArgs(List<String> args) {
            this.agentArgs = List.copyOf(args);
            return this;
        }

        public Options environment(Map<String, String> env) {
            this.environment = Map.copyOf(env);
            return this;
        }

        public Options workspace(Path workingDir, String rootUri) {
            this.workingDir = workingDir;
            this.rootUri = rootUri;
            return this;
        }

        public Options clientInfo(String name, String version) {
            this.clientName = name;
            this.clientVersion = version;
            return this;
        }

        public Options server(ServerSettings server) {
            this.server = Objects.requireNonNull(server);
            return this;
        }

        public Options restartPolicy(RestartPolicy policy) {
            this.restartPolicy = Objects.requireNonNull(policy);
            return this;
        }

        public Options log(AgentLog log) {
            this.log = Objects.requireNonNull(log);
            return this;
        }

        public Options clock(LongSupplier clock) {
            this.clock = Objects.requireNonNull(clock);
            return this;
        }

        public Options timeouts(long initializeMillis, long shutdownMillis, long completionMillis) {
            this.initializeTimeoutMillis = initializeMillis;
            this.shutdownTimeoutMillis = shutdownMillis;
            this.completionTimeoutMillis = completionMillis;
            return this;
        }

        /** How many invalid messages one session may write to stdout before it is restarted. */
        public Options garbageLimit(int limit) {
            this.garbageLimit = limit;
            return this;
        }
    }

    /** A document the IDE has open, kept so it can be opened again in a restarted agent. */
    private record OpenDocument(String uri, String languageId, int version, Supplier<String> currentText) {
    }

    /** One launched and (once {@code initialized}) usable agent process. Touched only on the control thread. */
    private final class Session {
        final AgentProcess agent;
        boolean initialized;
        boolean ended;
        boolean stopping;
        boolean sawServalStatus;
        boolean fullSync;
        int garbage;

        Session(AgentProcess agent) {
            this.agent = agent;
        }

        JsonRpcConnection rpc() {
            return agent.connection();
        }
    }

    private final Options options;
    private final AgentLog log;
    private final ScheduledExecutorService control;
    private final List<Consumer<AgentStatus>> statusListeners = new CopyOnWriteArrayList<>();

    // State below is confined to the control thread.
    private Session session;
    private ServerSettings server;
    private final Map<String, OpenDocument> documents = new LinkedHashMap<>();
    private final Map<String, CompletableFuture<InlineCompletionList>> inFlight = new HashMap<>();
    private ScheduledFuture<?> pendingStart;
    private boolean stopped;
    private CompletableFuture<Void> nextReady = new CompletableFuture<>();
    /** Shows the code of the sign-in in progress (serval/signIn), if any. */
    private Consumer<SignIn.Prompt> signInPrompt;
    private volatile AgentStatus status = new AgentStatus(AgentStatus.Kind.STARTING, "");

    public AgentClient(Options options) {
        this.options = options;
        this.log = options.log;
        this.server = options.server;
        this.control = Executors.newSingleThreadScheduledExecutor(r -> JsonRpcConnection.daemon(r, "serval-agent-control"));
    }

    // ---- lifecycle ----

    /**
     * Starts the agent. The future completes when it is initialized, or exceptionally when this first
     * attempt fails (restarts continue in the background; {@link #whenReady} follows them).
     */
    public CompletableFuture<Void> start() {
        CompletableFuture<Void> result = new CompletableFuture<>();
        onControl(() -> {
            if (stopped) {
                result.completeExceptionally(new IllegalStateException("the client was shut down"));
                return;
            }
            nextReady.whenComplete((v, e) -> complete(result, v, e));
            if (session == null && pendingStart == null) {
                startSession();
            }
        }, result);
        return result;
    }

    /** Completes when the agent is (or next becomes) initialized. */
    public CompletableFuture<Void> whenReady() {
        CompletableFuture<Void> result = new CompletableFuture<>();
        onControl(() -> {
            if (session != null && session.initialized) {
                result.complete(null);
            } else {
                nextReady.whenComplete((v, e) -> complete(result, v, e));
            }
        }, result);
        return result;
    }

    /** Ends the current agent and starts a fresh one at once, forgetting past failures (e.g. after a settings change). */
    public CompletableFuture<Void> restart() {
        CompletableFuture<Void> result = new CompletableFuture<>();
        onControl(() -> {
            if (stopped) {
                result.completeExceptionally(new IllegalStateException("the client was shut down"));
                return;
            }
            options.restartPolicy.reset();
            cancelPendingStart();
            Session old = session;
            if (old != null) {
                old.stopping = true;
                endSession(old);
                old.agent.destroy(options.shutdownTimeoutMillis);
            }
            nextReady.whenComplete((v, e) -> complete(result, v, e));
            startSession();
        }, result);
        return result;
    }

    /**
     * Shuts the agent down the LSP way (shutdown request, exit notification, end of stdin) and waits,
     * asynchronously, for it to exit; an agent that does not exit in time is killed. The future holds
     * the exit code (-1 when no agent was running). Terminal: the client cannot be started again.
     */
    public CompletableFuture<Integer> shutdown() {
        CompletableFuture<Integer> result = new CompletableFuture<>();
        onControl(() -> {
            stopped = true;
            cancelPendingStart();
            cancelAllInFlight();
            nextReady.completeExceptionally(new IllegalStateException("the client was shut down"));
            Session s = session;
            session = null;
            if (s == null) {
                setStatus(AgentStatus.Kind.STOPPED, "");
                result.complete(-1);
                control.shutdown();
                return;
            }
            s.stopping = true;
            long timeout = options.shutdownTimeoutMillis;
            s.rpc().request("shutdown", null)
                    .orTimeout(timeout, TimeUnit.MILLISECONDS)
                    .handle((r, e) -> {
                        if (e != null) {
                            log.warn("serval-agent did not answer shutdown: " + unwrap(e));
                        }
                        return s.rpc().notify("exit", null);
                    })
                    .thenCompose(written -> written.handle((r, e) -> null))
                    .thenCompose(ignored -> {
                        s.rpc().close();
                        return s.agent.onExit()
                                .orTimeout(timeout, TimeUnit.MILLISECONDS)
                                .exceptionallyCompose(e -> {
                                    log.warn("serval-agent did not exit after exit; killing it");
                                    return s.agent.destroy(timeout);
                                });
                    })
                    .whenComplete((code, e) -> onControl(() -> {
                        setStatus(AgentStatus.Kind.STOPPED, "");
                        control.shutdown(); // after this task; later calls are refused
                        if (e != null) {
                            result.completeExceptionally(unwrap(e));
                        } else {
                            log.info("serval-agent exited with code " + code);
                            result.complete(code);
                        }
                    }, result));
        }, result);
        return result;
    }

    // ---- settings and status ----

    /** New endpoint/token: kept for the next start and sent to a running agent as workspace/didChangeConfiguration. */
    public CompletableFuture<Void> updateServerSettings(ServerSettings settings) {
        CompletableFuture<Void> result = new CompletableFuture<>();
        onControl(() -> {
            server = settings;
            Session s = readySession();
            if (s == null) {
                result.complete(null);
                return;
            }
            JsonObject params = new JsonObject();
            JsonObject wrapped = new JsonObject();
            wrapped.add("serval", settings.toJson());
            params.add("settings", wrapped);
            forward(s.rpc().notify("workspace/didChangeConfiguration", params), result);
        }, result);
        return result;
    }

    public AgentStatus status() {
        return status;
    }

    /** Listeners run on the client's control thread and must return quickly. */
    public void addStatusListener(Consumer<AgentStatus> listener) {
        statusListeners.add(listener);
    }

    public void removeStatusListener(Consumer<AgentStatus> listener) {
        statusListeners.remove(listener);
    }

    /** The running agent's process id, or -1 (for diagnostics and tests). */
    public CompletableFuture<Long> agentPid() {
        CompletableFuture<Long> result = new CompletableFuture<>();
        onControl(() -> result.complete(session == null ? -1L : session.agent.pid()), result);
        return result;
    }

    // ---- documents ----

    /**
     * textDocument/didOpen. {@code currentText} is called only if the agent restarts, to open the
     * document again as it is then.
     */
    public CompletableFuture<Void> openDocument(String uri, String languageId, int version, String text, Supplier<String> currentText) {
        CompletableFuture<Void> result = new CompletableFuture<>();
        onControl(() -> {
            documents.put(uri, new OpenDocument(uri, languageId, version, currentText));
            Session s = readySession();
            if (s == null) {
                result.complete(null);
                return;
            }
            forward(s.rpc().notify("textDocument/didOpen", didOpenParams(uri, languageId, version, text)), result);
        }, result);
        return result;
    }

    /**
     * textDocument/didChange with incremental changes (ranges in the text before each change). If the
     * agent asked for full sync, the document's current text is sent instead.
     */
    public CompletableFuture<Void> changeDocument(String uri, int version, List<TextChange> changes) {
        CompletableFuture<Void> result = new CompletableFuture<>();
        onControl(() -> {
            OpenDocument doc = documents.get(uri);
            if (doc == null) {
                result.complete(null);
                return;
            }
            documents.put(uri, new OpenDocument(uri, doc.languageId(), version, doc.currentText()));
            Session s = readySession();
            if (s == null) {
                result.complete(null); // reopened with its current text when the agent is back
                return;
            }
            JsonObject params = new JsonObject();
            params.add("textDocument", versionedId(uri, version));
            JsonArray contentChanges = new JsonArray();
            if (s.fullSync) {
                JsonObject full = new JsonObject();
                full.addProperty("text", doc.currentText().get());
                contentChanges.add(full);
            } else {
                for (TextChange change : changes) {
                    contentChanges.add(change.toJson());
                }
            }
            params.add("contentChanges", contentChanges);
            forward(s.rpc().notify("textDocument/didChange", params), result);
        }, result);
        return result;
    }

    public CompletableFuture<Void> closeDocument(String uri) {
        CompletableFuture<Void> result = new CompletableFuture<>();
        onControl(() -> {
            CompletableFuture<InlineCompletionList> running = inFlight.remove(uri);
            if (running != null) {
                running.cancel(false);
            }
            if (documents.remove(uri) == null) {
                result.complete(null);
                return;
            }
            Session s = readySession();
            if (s == null) {
                result.complete(null);
                return;
            }
            JsonObject params = new JsonObject();
            params.add("textDocument", textDocumentId(uri));
            forward(s.rpc().notify("textDocument/didClose", params), result);
        }, result);
        return result;
    }

    // ---- completion ----

    /**
     * textDocument/inlineCompletion at {@code position}. A newer request for the same document cancels
     * this one ({@code $/cancelRequest} goes to the agent and this future is cancelled); so does
     * cancelling the future. With no running agent the result is empty at once.
     */
    public CompletableFuture<InlineCompletionList> inlineCompletion(String uri, Position position, TriggerKind trigger) {
        CompletableFuture<InlineCompletionList> result = new CompletableFuture<>();
        onControl(() -> {
            if (result.isDone()) {
                return;
            }
            Session s = readySession();
            if (s == null || !documents.containsKey(uri)) {
                result.complete(InlineCompletionList.EMPTY);
                return;
            }
            CompletableFuture<InlineCompletionList> superseded = inFlight.put(uri, result);
            if (superseded != null) {
                superseded.cancel(false);
            }
            JsonObject params = new JsonObject();
            params.add("textDocument", textDocumentId(uri));
            params.add("position", position.toJson());
            JsonObject context = new JsonObject();
            context.addProperty("triggerKind", trigger.value());
            params.add("context", context);
            CompletableFuture<JsonElement> request = s.rpc().request("textDocument/inlineCompletion", params);
            request.whenComplete((r, e) -> {
                if (e == null) {
                    result.complete(InlineCompletionList.fromJson(r));
                } else if (unwrap(e) instanceof ResponseError re && re.code() == ResponseError.REQUEST_CANCELLED) {
                    result.cancel(false);
                } else {
                    result.completeExceptionally(unwrap(e));
                }
            });
            result.orTimeout(options.completionTimeoutMillis, TimeUnit.MILLISECONDS);
            result.whenComplete((r, e) -> {
                request.cancel(false); // no-op when answered; otherwise sends $/cancelRequest
                onControl(() -> inFlight.remove(uri, result), null);
            });
        }, result);
        return result;
    }

    /** textDocument/didShowCompletion: the item is on screen. */
    public CompletableFuture<Void> didShow(InlineCompletionItem item) {
        JsonObject params = new JsonObject();
        params.add("item", item.raw());
        return notifyReady("textDocument/didShowCompletion", params);
    }

    /** The item was accepted in full: runs its command (workspace/executeCommand), if it has one. */
    public CompletableFuture<Void> accepted(InlineCompletionItem item) {
        Command command = item.command();
        if (command == null) {
            return CompletableFuture.completedFuture(null);
        }
        CompletableFuture<Void> result = new CompletableFuture<>();
        onControl(() -> {
            Session s = readySession();
            if (s == null) {
                result.complete(null);
                return;
            }
            JsonObject params = new JsonObject();
            params.addProperty("command", command.command());
            params.add("arguments", command.arguments());
            s.rpc().request("workspace/executeCommand", params).whenComplete((r, e) -> complete(result, null, e));
        }, result);
        return result;
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
        CompletableFuture<SignIn.Result> result = new CompletableFuture<>();
        onControl(() -> {
            Session s = readySession();
            if (s == null) {
                result.completeExceptionally(new IllegalStateException("serval-agent is not running"));
                return;
            }
            signInPrompt = onPrompt;
            JsonObject params = new JsonObject();
            params.addProperty("command", SignIn.COMMAND);
            params.add("arguments", new JsonArray());
            CompletableFuture<JsonElement> request = s.rpc().request("workspace/executeCommand", params);
            request.whenComplete((answer, error) -> onControl(() -> {
                if (signInPrompt == onPrompt) {
                    signInPrompt = null;
                }
                if (error != null) {
                    complete(result, null, error);
                    return;
                }
                SignIn.Result r = SignIn.Result.fromJson(answer);
                if (r == null) {
                    result.completeExceptionally(new IllegalStateException("the agent's sign-in answer has no token"));
                    return;
                }
                log.info("signed in as " + r.user() + " (token " + r.tokenName() + ")");
                updateServerSettings(new ServerSettings(server.endpoint(), r.token()))
                        .whenComplete((v, e) -> complete(result, r, e));
            }, result));
            result.whenComplete((r, e) -> {
                if (result.isCancelled()) {
                    request.cancel(false); // sends $/cancelRequest
                }
            });
        }, result);
        return result;
    }

    /** textDocument/didPartiallyAcceptCompletion: {@code acceptedLength} UTF-16 units from the start of the insert text. */
    public CompletableFuture<Void> partiallyAccepted(InlineCompletionItem item, int acceptedLength) {
        JsonObject params = new JsonObject();
        params.add("item", item.raw());
        params.addProperty("acceptedLength", acceptedLength);
        return notifyReady("textDocument/didPartiallyAcceptCompletion", params);
    }

    // ---- sessions (control thread) ----

    private void startSession() {
        pendingStart = null;
        if (stopped) {
            return;
        }
        setStatus(AgentStatus.Kind.STARTING, "");
        AgentLocator.Result located;
        try {
            located = options.locator.get();
        } catch (RuntimeException e) {
            located = new AgentLocator.Result(null, null, List.of("locator failed: " + e));
        }
        long now = options.clock.getAsLong();
        options.restartPolicy.recordStart(now);
        if (!located.found()) {
            log.warn(located.describe());
            sessionFailed(null, AgentStatus.Kind.AGENT_NOT_FOUND, located.describe(), 0);
            return;
        }
        log.info("starting serval-agent: " + located.describe());
        Session[] holder = new Session[1];
        AgentProcess agent;
        try {
            agent = AgentProcess.launch(located.executable(), options.agentArgs, options.environment, options.workingDir,
                    handlerFor(holder), log, now);
        } catch (IOException | RuntimeException e) {
            log.error("could not launch " + located.executable(), e);
            sessionFailed(null, AgentStatus.Kind.AGENT_FAILED, "could not launch " + located.executable() + ": " + e.getMessage(), 0);
            return;
        }
        Session s = new Session(agent);
        holder[0] = s;
        session = s;
        agent.onExit().whenComplete((code, e) -> onControl(() -> exited(s, code), null));
        agent.connection().start();
        s.rpc().request("initialize", initializeParams())
                .orTimeout(options.initializeTimeoutMillis, TimeUnit.MILLISECONDS)
                .whenComplete((result, error) -> onControl(() -> initialized(s, result, error), null));
    }

    private void initialized(Session s, JsonElement result, Throwable error) {
        if (s.ended || s != session) {
            return;
        }
        if (error != null) {
            sessionFailed(s, AgentStatus.Kind.AGENT_FAILED, "initialize failed: " + unwrap(error), ranFor(s));
            return;
        }
        JsonObject capabilities = Json.objectOrNull(Json.asObjectOrNull(result), "capabilities");
        String encoding = Json.stringOr(capabilities, "positionEncoding", "utf-16");
        if (!encoding.equals("utf-16")) {
            log.warn("serval-agent chose position encoding " + encoding + " although only utf-16 was offered");
        }
        if (capabilities != null && capabilities.get("inlineCompletionProvider") == null) {
            log.warn("serval-agent does not advertise inlineCompletionProvider");
        }
        s.fullSync = syncKind(capabilities) == 1;
        s.rpc().notify("initialized", new JsonObject());
        s.initialized = true;
        for (OpenDocument doc : documents.values()) {
            String text;
            try {
                text = doc.currentText().get();
            } catch (RuntimeException e) {
                log.error("could not read " + doc.uri() + " to reopen it", e);
                continue;
            }
            s.rpc().notify("textDocument/didOpen", didOpenParams(doc.uri(), doc.languageId(), doc.version(), text));
        }
        log.info("serval-agent initialized (pid " + s.agent.pid() + ")");
        if (!s.sawServalStatus && (status.kind() == AgentStatus.Kind.STARTING || status.kind() == AgentStatus.Kind.AGENT_FAILED
                || status.kind() == AgentStatus.Kind.AGENT_NOT_FOUND)) {
            setStatus(AgentStatus.Kind.READY, "");
        }
        CompletableFuture<Void> ready = nextReady;
        nextReady = new CompletableFuture<>();
        ready.complete(null);
    }

    private static int syncKind(JsonObject capabilities) {
        JsonElement sync = capabilities == null ? null : capabilities.get("textDocumentSync");
        if (sync != null && sync.isJsonPrimitive() && sync.getAsJsonPrimitive().isNumber()) {
            return sync.getAsInt();
        }
        return Json.intOr(Json.asObjectOrNull(sync), "change", 2);
    }

    private long ranFor(Session s) {
        return options.clock.getAsLong() - s.agent.startedAtMillis();
    }

    private void exited(Session s, int code) {
        if (s.ended || s.stopping) {
            return;
        }
        String tail = String.join("\n", s.agent.stderrTail());
        sessionFailed(s, AgentStatus.Kind.AGENT_FAILED, "serval-agent exited with code " + code
                + (tail.isEmpty() ? "" : "; last stderr:\n" + tail), ranFor(s));
    }

    /** Ends a session after a failure and schedules the next start; {@code s} is null when no process started. */
    private void sessionFailed(Session s, AgentStatus.Kind kind, String reason, long ranForMillis) {
        if (s != null) {
            if (s.ended) {
                return;
            }
            endSession(s);
            if (s.agent.isAlive()) {
                s.agent.destroy(1_000);
            }
        }
        if (stopped) {
            return;
        }
        long delay = options.restartPolicy.onFailure(options.clock.getAsLong(), ranForMillis);
        String message = reason + "; retrying in " + Math.max(1, (delay + 999) / 1000) + " s";
        log.warn(message);
        setStatus(kind, message);
        CompletableFuture<Void> ready = nextReady;
        nextReady = new CompletableFuture<>();
        ready.completeExceptionally(new AgentUnavailableException(kind, reason));
        try {
            pendingStart = control.schedule(() -> guarded(this::startSession), delay, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            // Shut down meanwhile.
        }
    }

    private void endSession(Session s) {
        s.ended = true;
        if (session == s) {
            session = null;
        }
        cancelAllInFlight();
        s.rpc().close();
    }

    private void cancelPendingStart() {
        if (pendingStart != null) {
            pendingStart.cancel(false);
            pendingStart = null;
        }
    }

    private void cancelAllInFlight() {
        List<CompletableFuture<InlineCompletionList>> running = new ArrayList<>(inFlight.values());
        inFlight.clear();
        running.forEach(f -> f.cancel(false));
    }

    private Session readySession() {
        Session s = session;
        return s != null && s.initialized && !s.ended ? s : null;
    }

    private JsonRpcConnection.Handler handlerFor(Session[] holder) {
        return new JsonRpcConnection.Handler() {
            @Override
            public void onNotification(String method, JsonElement params) {
                onControl(() -> notification(holder[0], method, params), null);
            }

            @Override
            public CompletableFuture<JsonElement> onRequest(String method, JsonElement params) {
                return serverRequest(method, params);
            }

            @Override
            public void onGarbage(String description, int skippedBytes) {
                onControl(() -> garbage(holder[0], description), null);
            }

            @Override
            public void onClose(Throwable cause) {
                Session s = holder[0];
                if (s == null) {
                    return;
                }
                // Usually the process is exiting: give its exit code a moment to arrive so the status
                // says why; an agent that closed stdout but keeps running is failed here.
                s.agent.onExit()
                        .orTimeout(1, TimeUnit.SECONDS)
                        .whenComplete((code, e) -> onControl(() -> {
                            if (e == null) {
                                exited(s, code);
                            } else if (!s.ended && !s.stopping) {
                                sessionFailed(s, AgentStatus.Kind.AGENT_FAILED, "connection to serval-agent lost: "
                                        + (cause == null ? "closed" : cause.getMessage()), ranFor(s));
                            }
                        }, null));
            }
        };
    }

    private void notification(Session s, String method, JsonElement params) {
        if (s == null || s.ended) {
            return;
        }
        switch (method) {
            case "serval/status" -> {
                AgentStatus parsed = AgentStatus.fromServalStatus(params);
                if (parsed != null) {
                    s.sawServalStatus = true;
                    setStatus(parsed.kind(), parsed.message());
                }
            }
            case SignIn.NOTIFICATION -> {
                SignIn.Prompt prompt = SignIn.Prompt.fromJson(params);
                Consumer<SignIn.Prompt> show = signInPrompt;
                if (prompt != null && show != null) {
                    show.accept(prompt);
                }
            }
            case "didChangeStatus", "$/didChangeStatus" -> {
                AgentStatus parsed = AgentStatus.fromDidChangeStatus(params);
                if (parsed != null && !s.sawServalStatus) {
                    setStatus(parsed.kind(), parsed.message());
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

    /** Answers what the agent asks the editor. Runs on the reader thread: touches no control-thread state. */
    private CompletableFuture<JsonElement> serverRequest(String method, JsonElement params) {
        switch (method) {
            case "workspace/configuration": {
                JsonArray answer = new JsonArray();
                JsonObject p = Json.asObjectOrNull(params);
                JsonElement items = p == null ? null : p.get("items");
                ServerSettings current = server;
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

    private void garbage(Session s, String description) {
        if (s == null || s.ended) {
            return;
        }
        s.garbage++;
        if (s.garbage <= 5) {
            log.warn("serval-agent wrote invalid output to stdout: " + description);
        }
        if (s.garbage >= options.garbageLimit) {
            sessionFailed(s, AgentStatus.Kind.AGENT_FAILED, "serval-agent writes non-LSP output to stdout (" + s.garbage
                    + " invalid messages; last: " + description + ")", ranFor(s));
        }
    }

    private JsonObject initializeParams() {
        JsonObject params = new JsonObject();
        params.addProperty("processId", ProcessHandle.current().pid());
        JsonObject clientInfo = new JsonObject();
        clientInfo.addProperty("name", options.clientName);
        clientInfo.addProperty("version", options.clientVersion);
        params.add("clientInfo", clientInfo);
        if (options.rootUri != null) {
            params.addProperty("rootUri", options.rootUri);
            JsonArray folders = new JsonArray();
            JsonObject folder = new JsonObject();
            folder.addProperty("uri", options.rootUri);
            folder.addProperty("name", options.rootUri.substring(options.rootUri.lastIndexOf('/') + 1));
            folders.add(folder);
            params.add("workspaceFolders", folders);
        } else {
            params.add("rootUri", JsonNull.INSTANCE);
        }
        params.add("capabilities", clientCapabilities());
        params.add("initializationOptions", server.toJson());
        return params;
    }

    /** What this client supports: UTF-16 positions only (IntelliJ offsets are UTF-16), incremental sync, inline completion. */
    static JsonObject clientCapabilities() {
        JsonObject general = new JsonObject();
        JsonArray encodings = new JsonArray();
        encodings.add("utf-16");
        general.add("positionEncodings", encodings);

        JsonObject synchronization = new JsonObject();
        synchronization.addProperty("dynamicRegistration", false);
        synchronization.addProperty("didSave", false);
        JsonObject inline = new JsonObject();
        inline.addProperty("dynamicRegistration", false);
        JsonObject textDocument = new JsonObject();
        textDocument.add("synchronization", synchronization);
        textDocument.add("inlineCompletion", inline);

        JsonObject didChangeConfiguration = new JsonObject();
        didChangeConfiguration.addProperty("dynamicRegistration", false);
        JsonObject workspace = new JsonObject();
        workspace.addProperty("configuration", true);
        workspace.add("didChangeConfiguration", didChangeConfiguration);
        JsonObject executeCommand = new JsonObject();
        executeCommand.addProperty("dynamicRegistration", false);
        workspace.add("executeCommand", executeCommand);

        JsonObject window = new JsonObject();
        window.addProperty("workDoneProgress", false);

        JsonObject capabilities = new JsonObject();
        capabilities.add("general", general);
        capabilities.add("textDocument", textDocument);
        capabilities.add("workspace", workspace);
        capabilities.add("window", window);
        return capabilities;
    }

    private static JsonObject didOpenParams(String uri, String languageId, int version, String text) {
        JsonObject item = new JsonObject();
        item.addProperty("uri", uri);
        item.addProperty("languageId", languageId);
        item.addProperty("version", version);
        item.addProperty("text", text);
        JsonObject params = new JsonObject();
        params.add("textDocument", item);
        return params;
    }

    private static JsonObject textDocumentId(String uri) {
        JsonObject id = new JsonObject();
        id.addProperty("uri", uri);
        return id;
    }

    private static JsonObject versionedId(String uri, int version) {
        JsonObject id = textDocumentId(uri);
        id.addProperty("version", version);
        return id;
    }

    private CompletableFuture<Void> notifyReady(String method, JsonObject params) {
        CompletableFuture<Void> result = new CompletableFuture<>();
        onControl(() -> {
            Session s = readySession();
            if (s == null) {
                result.complete(null);
                return;
            }
            forward(s.rpc().notify(method, params), result);
        }, result);
        return result;
    }

    private void setStatus(AgentStatus.Kind kind, String message) {
        AgentStatus next = new AgentStatus(kind, message == null ? "" : message);
        if (next.equals(status)) {
            return;
        }
        status = next;
        for (Consumer<AgentStatus> listener : statusListeners) {
            try {
                listener.accept(next);
            } catch (RuntimeException e) {
                log.error("status listener failed", e);
            }
        }
    }

    /** Runs {@code task} on the control thread; a failure completes {@code failOnError} instead of escaping. */
    private void onControl(Runnable task, CompletableFuture<?> failOnError) {
        try {
            control.execute(() -> {
                try {
                    task.run();
                } catch (RuntimeException | Error e) {
                    log.error("serval client bug", e);
                    if (failOnError != null) {
                        failOnError.completeExceptionally(e);
                    }
                }
            });
        } catch (RejectedExecutionException e) {
            if (failOnError != null) {
                failOnError.completeExceptionally(new IllegalStateException("the client was shut down"));
            }
        }
    }

    private void guarded(Runnable task) {
        try {
            task.run();
        } catch (RuntimeException e) {
            log.error("serval client bug", e);
        }
    }

    private static <T> void complete(CompletableFuture<T> target, T value, Throwable error) {
        if (error != null) {
            target.completeExceptionally(unwrap(error));
        } else {
            target.complete(value);
        }
    }

    private static void forward(CompletableFuture<Void> source, CompletableFuture<Void> target) {
        source.whenComplete((v, e) -> complete(target, null, e));
    }

    static Throwable unwrap(Throwable e) {
        while (e instanceof CompletionException && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
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
