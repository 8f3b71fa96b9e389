package com.servalhq.jetbrains.core;

import com.google.gson.JsonElement;

/** A JSON-RPC error response, as an exception that completes the request's future. */
public final class ResponseError extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public static final int PARSE_ERROR = -32700;
    public static final int INVALID_REQUEST = -32600;
    public static final int METHOD_NOT_FOUND = -32601;
    public static final int INVALID_PARAMS = -32602;
    public static final int INTERNAL_ERROR = -32603;
    public static final int SERVER_NOT_INITIALIZED = -32002;
    public static final int REQUEST_CANCELLED = -32800;
    public static final int CONTENT_MODIFIED = -32801;

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
