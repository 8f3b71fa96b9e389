package com.servalhq.jetbrains.core;

/** Why an inline completion is requested (LSP InlineCompletionTriggerKind). */
public enum TriggerKind {
    /** An explicit user gesture: the agent skips its debounce and may return several items. */
    INVOKED(1),
    /** Typing: the agent debounces and returns one good item. */
    AUTOMATIC(2);

    private final int value;

    TriggerKind(int value) {
        this.value = value;
    }

    public int value() {
        return value;
    }
}
