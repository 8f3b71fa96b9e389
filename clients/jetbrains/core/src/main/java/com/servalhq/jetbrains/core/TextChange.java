package com.servalhq.jetbrains.core;

import com.google.gson.JsonObject;

/**
 * One incremental edit for textDocument/didChange: {@code range} is in the document as it was before
 * this change (and after the earlier changes of the same notification); {@code text} replaces it.
 * Only the edited fragment travels, never the whole document.
 */
public record TextChange(Range range, String text) {
    JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.add("range", range.toJson());
        o.addProperty("text", text);
        return o;
    }
}
