package com.servalhq.jetbrains.core;

/** Thrown by a test that cannot run here (e.g. the real binaries are not built); {@link TestRunner} counts it as skipped. */
final class Skip extends RuntimeException {
    private static final long serialVersionUID = 1L;

    Skip(String reason) {
        super(reason);
    }
}
