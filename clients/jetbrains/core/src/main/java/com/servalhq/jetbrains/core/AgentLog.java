package com.servalhq.jetbrains.core;

/** Where the client writes what happens to the agent; the plugin routes it to the IDE's log. */
public interface AgentLog {
    void info(String message);

    void warn(String message);

    void error(String message, Throwable cause);

    /** A line the agent wrote to stderr. */
    default void agentStderr(String line) {
        info("[serval-agent] " + line);
    }

    /** A log that prints to System.err, for tests and tools. */
    static AgentLog stderr() {
        return new AgentLog() {
            @Override
            public void info(String message) {
                System.err.println("INFO  " + message);
            }

            @Override
            public void warn(String message) {
                System.err.println("WARN  " + message);
            }

            @Override
            public void error(String message, Throwable cause) {
                System.err.println("ERROR " + message + (cause == null ? "" : ": " + cause));
            }
        };
    }
}
