package com.servalhq.jetbrains.core;

import com.google.gson.JsonElement;

/** A JSON-RPC error response, as an exception that completes the request's future. */
public final class ResponseError extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public static final int METHOD_NOT_FOUND = -32601;
    public static final int INTERNAL_ERROR = -32603;
    public static final int REQUEST_CANCELLED = -32800;

    private final int code;
    private final transient JsonElement data;

    public ResponseError(int code, String message, JsonElement data) {
        super(message);
        this.code = code;
        this.data = data;
    }

    public int code() {
        return code;
    }

    public JsonElement data() {
        return data;
    }

    @Override
    public String toString() {
        return "ResponseError(" + code + "): " + getMessage();
    }
}
