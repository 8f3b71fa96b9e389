package com.servalhq.jetbrains.core;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * Moving an outcome from one future to another. The client's callers see the cause itself (a
 * {@link ResponseError}, a timeout), never the {@link CompletionException} that wraps it inside a chain.
 */
final class Futures {
    private Futures() {}

    static <T> void complete(CompletableFuture<T> target, T value, Throwable error) {
        if (error != null) {
            target.completeExceptionally(unwrap(error));
        } else {
            target.complete(value);
        }
    }

    /** Completes {@code target} as {@code source} completes: at once when it already has. */
    static void forward(CompletableFuture<Void> source, CompletableFuture<Void> target) {
        source.whenComplete((v, e) -> complete(target, null, e));
    }

    static Throwable unwrap(Throwable e) {
        while (e instanceof CompletionException && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }
}
