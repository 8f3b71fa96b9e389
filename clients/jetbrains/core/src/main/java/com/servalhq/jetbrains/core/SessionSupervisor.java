package com.servalhq.jetbrains.core;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The agent's lifecycle: locating and launching it, the initialize handshake, noticing that it failed
 * (not found, failed launch, exit, stdout garbage, initialize timeout, lost connection), restarting it
 * as the {@link RestartPolicy} allows, and the LSP shutdown. It owns the current {@link AgentSession}
 * and hands the ready one to the rest of the client. Touched only on the control thread.
 */
final class SessionSupervisor {
    private final AgentClientOptions options;
    private final AgentLog log;
    private final ControlThread control;
    private final StatusPublisher status;
    private final DocumentSync documents;
    private final InlineCompletions completions;
    private final IncomingMessages messages;
    private final Supplier<ServerSettings> server;

    private AgentSession session;
    private ScheduledFuture<?> pendingStart;
    private boolean stopped;
    /** Completes when the next session is initialized, or fails when the next attempt does; then replaced. */
    private CompletableFuture<Void> nextReady = new CompletableFuture<>();

    SessionSupervisor(AgentClientOptions options, ControlThread control, StatusPublisher status, DocumentSync documents,
            InlineCompletions completions, IncomingMessages messages, Supplier<ServerSettings> server) {
        this.options = options;
        this.log = options.log;
        this.control = control;
        this.status = status;
        this.documents = documents;
        this.completions = completions;
        this.messages = messages;
        this.server = server;
    }

    /** The initialized, running session, or null: what everything that talks to the agent asks first. */
    AgentSession readySession() {
        AgentSession s = session;
        return s != null && s.ready() ? s : null;
    }

    /** The running agent's process id, or -1. */
    long agentPid() {
        return session == null ? -1L : session.agent.pid();
    }

    /** Starts a session unless one is running or scheduled; {@code result} follows this attempt. */
    void start(CompletableFuture<Void> result) {
        if (stopped) {
            result.completeExceptionally(new IllegalStateException("the client was shut down"));
            return;
        }
        nextReady.whenComplete((v, e) -> Futures.complete(result, v, e));
        if (session == null && pendingStart == null) {
            startSession();
        }
    }

    void whenReady(CompletableFuture<Void> result) {
        if (session != null && session.initialized) {
            result.complete(null);
        } else {
            nextReady.whenComplete((v, e) -> Futures.complete(result, v, e));
        }
    }

    /** Ends the current session (not a failure) and starts a fresh one at once, forgetting past failures. */
    void restart(CompletableFuture<Void> result) {
        if (stopped) {
            result.completeExceptionally(new IllegalStateException("the client was shut down"));
            return;
        }
        options.restartPolicy.reset();
        cancelPendingStart();
        AgentSession old = session;
        if (old != null) {
            old.stopping = true;
            endSession(old);
            old.agent.destroy(options.shutdownTimeoutMillis);
        }
        nextReady.whenComplete((v, e) -> Futures.complete(result, v, e));
        startSession();
    }

    /**
     * The LSP way out: shutdown request, exit notification, end of stdin, then waiting (asynchronously)
     * for the exit, killing an agent that does not exit in time. {@code result} gets the exit code, -1
     * when no agent was running. Terminal: it also shuts the control thread down.
     */
    void shutdown(CompletableFuture<Integer> result) {
        stopped = true;
        cancelPendingStart();
        completions.cancelAll();
        nextReady.completeExceptionally(new IllegalStateException("the client was shut down"));
        AgentSession s = session;
        session = null;
        if (s == null) {
            status.set(AgentStatus.Kind.STOPPED, "");
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
                        log.warn("serval-agent did not answer shutdown: " + Futures.unwrap(e));
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
                .whenComplete((code, e) -> control.execute(() -> {
                    status.set(AgentStatus.Kind.STOPPED, "");
                    control.shutdown(); // after this task; later calls are refused
                    if (e != null) {
                        result.completeExceptionally(Futures.unwrap(e));
                    } else {
                        log.info("serval-agent exited with code " + code);
                        result.complete(code);
                    }
                }, result));
    }

    private void startSession() {
        pendingStart = null;
        if (stopped) {
            return;
        }
        status.set(AgentStatus.Kind.STARTING, "");
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
        // The handler exists before the session it reports on (the process is launched with it).
        AgentSession[] holder = new AgentSession[1];
        AgentProcess agent;
        try {
            agent = AgentProcess.launch(located.executable(), options.agentArgs, options.environment, options.workingDir,
                    handlerFor(holder), log, now);
        } catch (IOException | RuntimeException e) {
            log.error("could not launch " + located.executable(), e);
            sessionFailed(null, AgentStatus.Kind.AGENT_FAILED, "could not launch " + located.executable() + ": " + e.getMessage(), 0);
            return;
        }
        AgentSession s = new AgentSession(agent);
        holder[0] = s;
        session = s;
        agent.onExit().whenComplete((code, e) -> control.execute(() -> exited(s, code), null));
        agent.connection().start();
        s.rpc().request("initialize", LspParams.initialize(options.clientName, options.clientVersion, options.rootUri, server.get()))
                .orTimeout(options.initializeTimeoutMillis, TimeUnit.MILLISECONDS)
                .whenComplete((result, error) -> control.execute(() -> initialized(s, result, error), null));
    }

    private void initialized(AgentSession s, JsonElement result, Throwable error) {
        if (s.ended || s != session) {
            return;
        }
        if (error != null) {
            sessionFailed(s, AgentStatus.Kind.AGENT_FAILED, "initialize failed: " + Futures.unwrap(error), ranFor(s));
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
        s.fullSync = DocumentSync.wantsFullSync(capabilities);
        s.rpc().notify("initialized", new JsonObject());
        s.initialized = true;
        documents.reopenAll(s);
        log.info("serval-agent initialized (pid " + s.agent.pid() + ")");
        AgentStatus.Kind kind = status.current().kind();
        // The agent's own status, once it sent one, says more than "ready".
        if (!s.sawServalStatus && (kind == AgentStatus.Kind.STARTING || kind == AgentStatus.Kind.AGENT_FAILED
                || kind == AgentStatus.Kind.AGENT_NOT_FOUND)) {
            status.set(AgentStatus.Kind.READY, "");
        }
        CompletableFuture<Void> ready = nextReady;
        nextReady = new CompletableFuture<>();
        ready.complete(null);
    }

    private long ranFor(AgentSession s) {
        return options.clock.getAsLong() - s.agent.startedAtMillis();
    }

    private void exited(AgentSession s, int code) {
        if (s.ended || s.stopping) {
            return;
        }
        String tail = String.join("\n", s.agent.stderrTail());
        sessionFailed(s, AgentStatus.Kind.AGENT_FAILED, "serval-agent exited with code " + code
                + (tail.isEmpty() ? "" : "; last stderr:\n" + tail), ranFor(s));
    }

    /** Ends a session after a failure and schedules the next start; {@code s} is null when no process started. */
    private void sessionFailed(AgentSession s, AgentStatus.Kind kind, String reason, long ranForMillis) {
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
        status.set(kind, message);
        CompletableFuture<Void> ready = nextReady;
        nextReady = new CompletableFuture<>();
        ready.completeExceptionally(new AgentClient.AgentUnavailableException(kind, reason));
        try {
            pendingStart = control.schedule(this::startSession, delay);
        } catch (RejectedExecutionException e) {
            // Shut down meanwhile.
        }
    }

    private void endSession(AgentSession s) {
        s.ended = true;
        if (session == s) {
            session = null;
        }
        completions.cancelAll();
        s.rpc().close();
    }

    private void cancelPendingStart() {
        if (pendingStart != null) {
            pendingStart.cancel(false);
            pendingStart = null;
        }
    }

    private JsonRpcConnection.Handler handlerFor(AgentSession[] holder) {
        return new JsonRpcConnection.Handler() {
            @Override
            public void onNotification(String method, JsonElement params) {
                control.execute(() -> messages.notification(holder[0], method, params), null);
            }

            @Override
            public CompletableFuture<JsonElement> onRequest(String method, JsonElement params) {
                return messages.request(method, params);
            }

            @Override
            public void onGarbage(String description, int skippedBytes) {
                control.execute(() -> garbage(holder[0], description), null);
            }

            @Override
            public void onClose(Throwable cause) {
                AgentSession s = holder[0];
                if (s == null) {
                    return;
                }
                // Usually the process is exiting: give its exit code a moment to arrive so the status
                // says why; an agent that closed stdout but keeps running is failed here.
                s.agent.onExit()
                        .orTimeout(1, TimeUnit.SECONDS)
                        .whenComplete((code, e) -> control.execute(() -> {
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

    /** A few invalid messages on stdout are tolerated (and logged); a flood ends the session. */
    private void garbage(AgentSession s, String description) {
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
}
