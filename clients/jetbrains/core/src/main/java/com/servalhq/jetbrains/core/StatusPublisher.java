package com.servalhq.jetbrains.core;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * The client's current {@link AgentStatus} and the listeners told of each change. The status is read
 * from any thread; it changes, and listeners run, on the control thread only.
 */
final class StatusPublisher {
    private final AgentLog log;
    private final List<Consumer<AgentStatus>> listeners = new CopyOnWriteArrayList<>();
    private volatile AgentStatus current = new AgentStatus(AgentStatus.Kind.STARTING, "");

    StatusPublisher(AgentLog log) {
        this.log = log;
    }

    AgentStatus current() {
        return current;
    }

    void addListener(Consumer<AgentStatus> listener) {
        listeners.add(listener);
    }

    void removeListener(Consumer<AgentStatus> listener) {
        listeners.remove(listener);
    }

    /** Control thread only. Repeating the current status tells nobody; a failing listener does not stop the others. */
    void set(AgentStatus.Kind kind, String message) {
        AgentStatus next = new AgentStatus(kind, message == null ? "" : message);
        if (next.equals(current)) {
            return;
        }
        current = next;
        for (Consumer<AgentStatus> listener : listeners) {
            try {
                listener.accept(next);
            } catch (RuntimeException e) {
                log.error("status listener failed", e);
            }
        }
    }
}
