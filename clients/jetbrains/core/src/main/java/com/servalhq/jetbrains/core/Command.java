package com.servalhq.jetbrains.core;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

/** An LSP command attached to a completion item; running it through workspace/executeCommand reports acceptance. */
public record Command(String title, String command, JsonArray arguments) {
    /** Parses {title?, command, arguments?}; null when the command name is missing. */
    public static Command fromJson(JsonObject o) {
        String name = Json.stringOr(o, "command", null);
        if (name == null || name.isEmpty()) {
            return null;
        }
        JsonElement args = o.get("arguments");
        return new Command(Json.stringOr(o, "title", ""), name, args != null && args.isJsonArray() ? args.getAsJsonArray() : new JsonArray());
    }
}
