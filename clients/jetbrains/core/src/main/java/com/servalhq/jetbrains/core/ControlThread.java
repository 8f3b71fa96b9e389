package com.servalhq.jetbrains.core;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The client's one control thread. All of the client's mutable state (the agent session, the open
 * documents, the completion requests in flight, the sign-in in progress) is touched only by tasks run
 * here, in submission order: no IDE thread ever waits on a lock, and messages reach the agent in the
 * order the IDE made its calls.
 *
 * <p>A task that throws is a client bug: it is logged, and the caller's future (if any) fails with it,
 * so no public call of {@link AgentClient} ever hangs or throws.
 */
final class ControlThread {
    private final ScheduledExecutorService executor =
            Executors.newSingleThreadScheduledExecutor(r -> JsonRpcConnection.daemon(r, "serval-agent-control"));
    private final AgentLog log;

    ControlThread(AgentLog log) {
        this.log = log;
    }

    /**
     * Runs {@code task} on the control thread; a failure completes {@code failOnError} instead of
     * escaping, and so does a task refused after {@link #shutdown}.
     */
    void execute(Runnable task, CompletableFuture<?> failOnError) {
        try {
            executor.execute(() -> {
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

    /**
     * Runs {@code task} after {@code delayMillis}; nobody waits for it, so a failure is only logged.
     *
     * @throws RejectedExecutionException once the thread was shut down
     */
    ScheduledFuture<?> schedule(Runnable task, long delayMillis) {
        return executor.schedule(() -> {
            try {
                task.run();
            } catch (RuntimeException e) {
                log.error("serval client bug", e);
            }
        }, delayMillis, TimeUnit.MILLISECONDS);
    }

    /** Refuses tasks from now on; those already queued still run (the shutdown's last step is one). */
    void shutdown() {
        executor.shutdown();
    }
}
