package com.servalhq.jetbrains.core;

import java.util.ArrayDeque;
import java.util.Deque;

/**
 * When to restart a failed agent: exponential backoff between consecutive failures, and at most
 * {@code maxStartsPerWindow} starts in any sliding window, so an agent that dies at once on every
 * start costs a few process launches a minute, not a busy loop. A run that lasted
 * {@code stableRunMillis} resets the backoff. Times are passed in, so the policy is a pure function of
 * its inputs and is tested without sleeping. Not thread-safe: the client calls it from its control thread.
 */
public final class RestartPolicy {
    private final long initialDelayMillis;
    private final long maxDelayMillis;
    private final int maxStartsPerWindow;
    private final long windowMillis;
    private final long stableRunMillis;
    private final Deque<Long> recentStarts = new ArrayDeque<>();
    private int consecutiveFailures;

    public RestartPolicy(long initialDelayMillis, long maxDelayMillis, int maxStartsPerWindow, long windowMillis, long stableRunMillis) {
        if (initialDelayMillis < 0 || maxDelayMillis < initialDelayMillis || maxStartsPerWindow < 1 || windowMillis < 0) {
            throw new IllegalArgumentException("invalid restart policy");
        }
        this.initialDelayMillis = initialDelayMillis;
        this.maxDelayMillis = maxDelayMillis;
        this.maxStartsPerWindow = maxStartsPerWindow;
        this.windowMillis = windowMillis;
        this.stableRunMillis = stableRunMillis;
    }

    /** The plugin's policy: 1 s, 2 s, 4 s ... up to 60 s; at most 3 starts a minute; 2 minutes up is stable. */
    public static RestartPolicy standard() {
        return new RestartPolicy(1_000, 60_000, 3, 60_000, 120_000);
    }

    /** Records that a process was started at {@code now}. */
    public void recordStart(long now) {
        recentStarts.addLast(now);
        while (recentStarts.size() > maxStartsPerWindow) {
            recentStarts.removeFirst();
        }
    }

    /**
     * Records a failure of a process that ran for {@code ranForMillis} and returns how long to wait
     * before the next start.
     */
    public long onFailure(long now, long ranForMillis) {
        if (ranForMillis >= stableRunMillis) {
            consecutiveFailures = 0;
        }
        long backoff = initialDelayMillis;
        for (int i = 0; i < consecutiveFailures && backoff < maxDelayMillis; i++) {
            backoff *= 2;
        }
        backoff = Math.min(backoff, maxDelayMillis);
        consecutiveFailures++;
        return Math.max(backoff, delayForWindow(now));
    }

    /** Forgets past failures (the user changed the settings or asked for a restart). */
    public void reset() {
        consecutiveFailures = 0;
        recentStarts.clear();
    }

    /** How long until one more start fits in the window. */
    long delayForWindow(long now) {
        if (recentStarts.size() < maxStartsPerWindow) {
            return 0;
        }
        long oldest = recentStarts.peekFirst();
        return Math.max(0, oldest + windowMillis - now);
    }

    int consecutiveFailures() {
        return consecutiveFailures;
    }
}
