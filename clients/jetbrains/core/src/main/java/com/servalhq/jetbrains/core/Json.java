package com.servalhq.jetbrains.core;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;

/** Lenient accessors for JSON from the agent: a wrong type reads as absent rather than throwing. */
final class Json {
    private Json() {
    }

    static String stringOr(JsonObject o, String key, String fallback) {
        JsonElement e = o == null ? null : o.get(key);
        if (e instanceof JsonPrimitive p && p.isString()) {
            return p.getAsString();
        }
        return fallback;
    }

    static int intOr(JsonObject o, String key, int fallback) {
        JsonElement e = o == null ? null : o.get(key);
        if (e instanceof JsonPrimitive p && p.isNumber()) {
            double d = p.getAsDouble();
            if (d >= Integer.MIN_VALUE && d <= Integer.MAX_VALUE && d == Math.rint(d)) {
                return (int) d;
            }
        }
        return fallback;
    }

    static JsonObject objectOrNull(JsonObject o, String key) {
        JsonElement e = o == null ? null : o.get(key);
        return e != null && e.isJsonObject() ? e.getAsJsonObject() : null;
    }

    static JsonObject asObjectOrNull(JsonElement e) {
        return e != null && e.isJsonObject() ? e.getAsJsonObject() : null;
    }
}
