package com.servalhq.jetbrains.core;

import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;

/** Assertions for the tests; each failure throws AssertionError with what was expected. */
final class Check {
    private Check() {
    }

    static void equal(Object expected, Object actual, String what) {
        if (!Objects.equals(expected, actual)) {
            throw new AssertionError(what + ": expected <" + expected + "> but got <" + actual + ">");
        }
    }

    static void isTrue(boolean condition, String what) {
        if (!condition) {
            throw new AssertionError(what);
        }
    }

    static void contains(String haystack, String needle, String what) {
        if (haystack == null || !haystack.contains(needle)) {
            throw new AssertionError(what + ": expected <" + haystack + "> to contain <" + needle + ">");
        }
    }

    /** Waits for a future; a hang fails the test after 30 s instead of blocking the run. */
    static <T> T await(CompletableFuture<T> future, String what) throws Exception {
        try {
            return future.get(30, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            throw new AssertionError(what + ": no result within 30 s");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Exception cause) {
                throw cause;
            }
            throw e;
        }
    }

    /** Waits for a future expected to fail; returns its cause. */
    static Throwable awaitFailure(CompletableFuture<?> future, String what) throws Exception {
        try {
            Object value = future.get(30, TimeUnit.SECONDS);
            throw new AssertionError(what + ": expected a failure but got <" + value + ">");
        } catch (TimeoutException e) {
            throw new AssertionError(what + ": no result within 30 s");
        } catch (ExecutionException e) {
            return e.getCause();
        } catch (java.util.concurrent.CancellationException e) {
            return e;
        }
    }

    /**
     * Polls {@code condition} every 20 ms for up to 30 s (a bound against hangs, not a timing assertion:
     * the condition is about what happened, not how fast).
     */
    static void eventually(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("never happened: " + what);
            }
            Thread.sleep(20);
        }
    }
}
