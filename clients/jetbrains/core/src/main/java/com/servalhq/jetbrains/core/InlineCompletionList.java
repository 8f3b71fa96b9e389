package com.servalhq.jetbrains.core;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

import java.util.ArrayList;
import java.util.List;

/** The result of textDocument/inlineCompletion: items in the agent's order (best first). */
public record InlineCompletionList(List<InlineCompletionItem> items) {
    public static final InlineCompletionList EMPTY = new InlineCompletionList(List.of());

    /** Parses {@code InlineCompletionItem[] | {items: [...]} | null}; unusable items are dropped. */
    public static InlineCompletionList fromJson(JsonElement result) {
        JsonArray array = null;
        if (result != null && result.isJsonArray()) {
            array = result.getAsJsonArray();
        } else if (result != null && result.isJsonObject()) {
            JsonObject o = result.getAsJsonObject();
            if (o.has("items") && o.get("items").isJsonArray()) {
                array = o.getAsJsonArray("items");
            }
        }
        if (array == null) {
            return EMPTY;
        }
        List<InlineCompletionItem> items = new ArrayList<>(array.size());
        for (JsonElement e : array) {
            InlineCompletionItem item = InlineCompletionItem.fromJson(e);
            if (item != null) {
                items.add(item);
            }
        }
        return new InlineCompletionList(List.copyOf(items));
    }

    public boolean isEmpty() {
        return items.isEmpty();
    }
}
