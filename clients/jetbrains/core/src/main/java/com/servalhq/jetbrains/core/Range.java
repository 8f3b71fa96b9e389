package com.servalhq.jetbrains.core;

import com.google.gson.JsonObject;

/** An LSP range: start inclusive, end exclusive. */
public record Range(Position start, Position end) {
    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.add("start", start.toJson());
        o.add("end", end.toJson());
        return o;
    }

    /** Parses {start, end}; null when malformed or when end precedes start. */
    public static Range fromJson(JsonObject o) {
        Position start = Position.fromJson(Json.objectOrNull(o, "start"));
        Position end = Position.fromJson(Json.objectOrNull(o, "end"));
        if (start == null || end == null) {
            return null;
        }
        if (end.line() < start.line() || (end.line() == start.line() && end.character() < start.character())) {
            return null;
        }
        return new Range(start, end);
    }
}
