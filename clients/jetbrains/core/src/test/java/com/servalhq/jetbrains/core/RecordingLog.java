package com.servalhq.jetbrains.core;

import java.util.List;

/** An {@link AgentLog} that appends "LEVEL message" lines to a list the test reads. */
final class RecordingLog implements AgentLog {
    private final List<String> lines;

    RecordingLog(List<String> lines) {
        this.lines = lines;
    }

    @Override
    public void info(String message) {
        lines.add("INFO " + message);
    }

    @Override
    public void warn(String message) {
        lines.add("WARN " + message);
    }

    @Override
    public void error(String message, Throwable cause) {
        lines.add("ERROR " + message + " " + cause);
    }
}
