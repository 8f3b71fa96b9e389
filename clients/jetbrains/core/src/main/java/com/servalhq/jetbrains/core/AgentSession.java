package com.servalhq.jetbrains.core;

/**
 * One launched agent process and what the client learned about it while it ran. A restart makes a new
 * session, so nothing from a dead process (its sync kind, its garbage count) leaks into the next one.
 * Touched only on the control thread.
 */
final class AgentSession {
    final AgentProcess agent;
    /** initialize was answered and initialized sent: the agent may be sent documents and requests. */
    boolean initialized;
    /** The session is over (failed, restarted or shut down); late events about it are ignored. */
    boolean ended;
    /** The client itself is stopping the process, so its exit is not a failure. */
    boolean stopping;
    /** The agent sends serval/status, which then wins over the generic didChangeStatus. */
    boolean sawServalStatus;
    /** The agent asked for whole-text didChange (textDocumentSync 1) instead of incremental changes. */
    boolean fullSync;
    /** Invalid messages the agent wrote to stdout so far. */
    int garbage;

    AgentSession(AgentProcess agent) {
        this.agent = agent;
    }

    JsonRpcConnection rpc() {
        return agent.connection();
    }

    boolean ready() {
        return initialized && !ended;
    }
}
