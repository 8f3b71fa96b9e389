package com.servalhq.jetbrains.core;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

/**
 * One LSP 3.18 inline completion item.
 *
 * @param insertText the text to insert, already plain (a snippet's placeholders resolved)
 * @param snippet whether the agent sent {@code insertText} as a snippet
 * @param filterText what the IDE should match typed text against; defaults to the insert text
 * @param range the range the insert text replaces, or null for the cursor position
 * @param command the command to run on acceptance, or null
 * @param raw the item as the agent sent it, echoed back in didShowCompletion and didPartiallyAcceptCompletion
 */
public record InlineCompletionItem(String insertText, boolean snippet, String filterText, Range range, Command command, JsonObject raw) {

    /** Parses an item; null when it has no usable insert text (the item is then skipped, not fatal). */
    public static InlineCompletionItem fromJson(JsonElement element) {
        JsonObject o = Json.asObjectOrNull(element);
        if (o == null) {
            return null;
        }
        JsonElement insert = o.get("insertText");
        String text;
        boolean snippet = false;
        if (insert != null && insert.isJsonPrimitive() && insert.getAsJsonPrimitive().isString()) {
            text = insert.getAsString();
        } else if (insert != null && insert.isJsonObject()
                && "snippet".equals(Json.stringOr(insert.getAsJsonObject(), "kind", null))
                && Json.stringOr(insert.getAsJsonObject(), "value", null) != null) {
            text = Snippets.toPlainText(Json.stringOr(insert.getAsJsonObject(), "value", ""));
            snippet = true;
        } else {
            return null;
        }
        JsonObject rangeJson = Json.objectOrNull(o, "range");
        Range range = rangeJson == null ? null : Range.fromJson(rangeJson);
        if (rangeJson != null && range == null) {
            return null; // a malformed range would replace the wrong text
        }
        JsonObject commandJson = Json.objectOrNull(o, "command");
        Command command = commandJson == null ? null : Command.fromJson(commandJson);
        return new InlineCompletionItem(text, snippet, Json.stringOr(o, "filterText", text), range, command, o);
    }

    /**
     * Where this item goes in {@code doc} with the caret at {@code caret}: the replaced span, the full
     * new text, and the part to draw as ghost text after the caret. Returns null when the item does not
     * fit the document any more (its range no longer covers the caret, or the text before the caret
     * that it replaces was edited away from what it starts with).
     */
    public Placement place(LineMap doc, int caret) {
        int start = caret;
        int end = caret;
        if (range != null) {
            int[] offsets = Positions.offsetsOf(doc, range);
            start = offsets[0];
            end = offsets[1];
        }
        if (start > caret || end < caret) {
            return null;
        }
        CharSequence text = doc.text();
        // The range may begin before the caret (it rewrites what was typed): the typed part must be a
        // prefix of the insert text, and only the rest is ghost text.
        int typed = caret - start;
        if (typed > insertText.length() || !insertText.regionMatches(0, text.subSequence(start, caret).toString(), 0, typed)) {
            return null;
        }
        return new Placement(start, end, insertText, insertText.substring(typed), typed);
    }

    /**
     * @param replaceStart offset where the replacement starts
     * @param replaceEnd offset where it ends (past the caret when it swallows e.g. a closing bracket)
     * @param newText the text that replaces [replaceStart, replaceEnd)
     * @param ghostText what is not yet in the document: newText after the already typed part
     * @param typedLength UTF-16 units of newText already present before the caret
     */
    public record Placement(int replaceStart, int replaceEnd, String newText, String ghostText, int typedLength) {
    }
}
