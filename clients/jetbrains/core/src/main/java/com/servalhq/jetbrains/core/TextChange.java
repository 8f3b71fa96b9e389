package com.servalhq.jetbrains.core;

import com.google.gson.JsonObject;

/**
 * One incremental edit for textDocument/didChange: {@code range} is in the document as it was before
 * this change (and after the earlier changes of the same notification); {@code text} replaces it.
 * Only the edited fragment travels, never the whole document.
 */
public record TextChange(Range range, String text) {
    /**
     * The change for an edit seen after the fact, as IDE document listeners report it: at
     * {@code offset}, {@code oldFragment} was replaced by {@code newText}, and {@code after} is the
     * document now. The text before {@code offset} did not change, so the start position can be read
     * from {@code after}; the old end is found by walking {@code oldFragment}. Costs O(log lines +
     * fragment length), never a copy of the document.
     */
    public static TextChange fromEdit(LineMap after, int offset, CharSequence oldFragment, String newText) {
        Position start = Positions.positionAt(after, offset);
        int line = start.line();
        int character = start.character();
        int n = oldFragment.length();
        for (int i = 0; i < n; i++) {
            char c = oldFragment.charAt(i);
            if (c == '\r' && i + 1 < n && oldFragment.charAt(i + 1) == '\n') {
                continue; // counted at the \n
            }
            if (c == '\n' || c == '\r') {
                line++;
                character = 0;
            } else {
                character++;
            }
        }
        return new TextChange(new Range(start, new Position(line, character)), newText);
    }

    JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.add("range", range.toJson());
        o.addProperty("text", text);
        return o;
    }
}
