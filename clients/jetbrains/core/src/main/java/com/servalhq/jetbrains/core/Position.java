package com.servalhq.jetbrains.core;

import com.google.gson.JsonObject;

/** An LSP position: zero-based line and UTF-16 code unit offset within the line. */
public record Position(int line, int character) {
    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("line", line);
        o.addProperty("character", character);
        return o;
    }

    /** Parses {line, character}; null when either is missing or negative. */
    public static Position fromJson(JsonObject o) {
        int line = Json.intOr(o, "line", -1);
        int character = Json.intOr(o, "character", -1);
        return line < 0 || character < 0 ? null : new Position(line, character);
    }
}
