package com.servalhq.jetbrains.core;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/** Writes LSP base-protocol frames. Not thread-safe: {@link JsonRpcConnection} calls it from one writer thread. */
public final class MessageWriter {
    static final Gson GSON = new GsonBuilder().disableHtmlEscaping().serializeNulls().create();

    private final OutputStream out;

    public MessageWriter(OutputStream out) {
        this.out = out;
    }

    /** Encodes one message as a frame: the header counts bytes of the UTF-8 body, not characters. */
    public static byte[] frame(JsonElement message) {
        byte[] body = GSON.toJson(message).getBytes(StandardCharsets.UTF_8);
        byte[] header = ("Content-Length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
        byte[] frame = new byte[header.length + body.length];
        System.arraycopy(header, 0, frame, 0, header.length);
        System.arraycopy(body, 0, frame, header.length, body.length);
        return frame;
    }

    public void write(JsonElement message) throws IOException {
        out.write(frame(message));
        out.flush();
    }

    public void close() throws IOException {
        out.close();
    }
}
