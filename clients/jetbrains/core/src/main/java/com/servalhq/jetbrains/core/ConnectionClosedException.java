package com.servalhq.jetbrains.core;

/** Completes requests that were pending, or made, after the connection to the agent closed. */
public final class ConnectionClosedException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public ConnectionClosedException(String message, Throwable cause) {
        super(message, cause);
    }
}
