package com.servalhq.jetbrains.core;

import com.google.gson.JsonObject;

/**
 * Where the agent's server is and the token for it, sent as initializationOptions
 * {@code {"server": {"endpoint", "token"}}} and as {@code serval} settings on change. Empty values are
 * left out so they never override what the agent has from its own config file or environment.
 */
public record ServerSettings(String endpoint, String token) {
    public static final ServerSettings NONE = new ServerSettings("", "");

    public ServerSettings {
        endpoint = endpoint == null ? "" : endpoint.trim();
        token = token == null ? "" : token.trim();
    }

    /** {@code {"server": {...}}}. */
    public JsonObject toJson() {
        JsonObject server = new JsonObject();
        if (!endpoint.isEmpty()) {
            server.addProperty("endpoint", endpoint);
        }
        if (!token.isEmpty()) {
            server.addProperty("token", token);
        }
        JsonObject o = new JsonObject();
        o.add("server", server);
        return o;
    }

    @Override
    public String toString() {
        return "ServerSettings[endpoint=" + endpoint + ", token=" + (token.isEmpty() ? "<none>" : "<set>") + "]";
    }
}
