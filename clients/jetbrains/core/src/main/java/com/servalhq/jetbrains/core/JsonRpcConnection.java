package com.servalhq.jetbrains.core;

import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * JSON-RPC 2.0 over LSP framing, as the client end of a language server's stdio.
 *
 * <p>Threads: one reader thread owns the input stream and dispatches messages; one writer thread owns
 * the output stream, so callers never block on a full pipe. Handlers run on the reader thread and must
 * return quickly (the request handler returns a future). {@link #close} stops both threads.
 *
 * <p>Cancelling a future returned by {@link #request} sends {@code $/cancelRequest} for its id.
 */
public final class JsonRpcConnection {
    /** Handles what the peer sends besides responses. */
    public interface Handler {
        /** A notification from the peer (no answer). */
        void onNotification(String method, JsonElement params);

        /**
         * A request from the peer; the future's value is the result, an exceptional {@link ResponseError}
         * becomes an error response, any other exception an internal error.
         */
        CompletableFuture<JsonElement> onRequest(String method, JsonElement params);

        /** Input that was not a valid message; the connection keeps reading. */
        void onGarbage(String description, int skippedBytes);

        /** The connection ended: end of stream, a read/write failure, or {@link #close}. Called once. */
        void onClose(Throwable cause);
    }

    private final MessageReader reader;
    private final MessageWriter writer;
    private final Handler handler;
    private final String name;
    private final AtomicLong nextId = new AtomicLong(1);
    private final Map<String, CompletableFuture<JsonElement>> pending = new ConcurrentHashMap<>();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final ExecutorService writeThread;
    private final Thread readThread;

    public JsonRpcConnection(String name, InputStream in, OutputStream out, Handler handler) {
        this.name = name;
        this.handler = handler;
        this.reader = new MessageReader(in, handler::onGarbage);
        this.writer = new MessageWriter(out);
        this.writeThread = Executors.newSingleThreadExecutor(r -> daemon(r, name + "-writer"));
        this.readThread = daemon(this::readLoop, name + "-reader");
    }

    /** Starts reading; messages before this call wait in the pipe. */
    public void start() {
        readThread.start();
    }

    /** Number of requests awaiting a response (for tests and diagnostics). */
    public int pendingCount() {
        return pending.size();
    }

    /** Sends a request; the future completes with the result, a {@link ResponseError}, or {@link ConnectionClosedException}. */
    public CompletableFuture<JsonElement> request(String method, JsonElement params) {
        long id = nextId.getAndIncrement();
        String key = Long.toString(id);
        CompletableFuture<JsonElement> result = new CompletableFuture<>();
        result.whenComplete((r, e) -> {
            if (pending.remove(key) != null && e instanceof CancellationException && !closed.get()) {
                JsonObject cancel = new JsonObject();
                cancel.addProperty("id", id);
                notify("$/cancelRequest", cancel);
            }
        });
        if (closed.get()) {
            result.completeExceptionally(new ConnectionClosedException(name + " is closed", null));
            return result;
        }
        pending.put(key, result);
        JsonObject message = new JsonObject();
        message.addProperty("jsonrpc", "2.0");
        message.addProperty("id", id);
        message.addProperty("method", method);
        if (params != null) {
            message.add("params", params);
        }
        send(message).whenComplete((v, e) -> {
            if (e != null) {
                result.completeExceptionally(e);
            }
        });
        return result;
    }

    /** Sends a notification; the future completes once it is written to the pipe. */
    public CompletableFuture<Void> notify(String method, JsonElement params) {
        JsonObject message = new JsonObject();
        message.addProperty("jsonrpc", "2.0");
        message.addProperty("method", method);
        if (params != null) {
            message.add("params", params);
        }
        return send(message);
    }

    /** Closes the output (the peer sees end of input) and fails pending requests. Idempotent. */
    public void close() {
        shutdown(null);
    }

    private CompletableFuture<Void> send(JsonObject message) {
        CompletableFuture<Void> written = new CompletableFuture<>();
        if (closed.get()) {
            written.completeExceptionally(new ConnectionClosedException(name + " is closed", null));
            return written;
        }
        try {
            writeThread.execute(() -> {
                try {
                    writer.write(message);
                    written.complete(null);
                } catch (IOException | RuntimeException e) {
                    ConnectionClosedException failure = new ConnectionClosedException("writing to " + name + " failed: " + e, e);
                    written.completeExceptionally(failure);
                    shutdown(failure);
                }
            });
        } catch (RejectedExecutionException e) {
            written.completeExceptionally(new ConnectionClosedException(name + " is closed", e));
        }
        return written;
    }

    private void readLoop() {
        Throwable cause = null;
        try {
            while (!closed.get()) {
                byte[] body = reader.readFrame();
                if (body == null) {
                    cause = new ConnectionClosedException(name + " closed its output", null);
                    break;
                }
                dispatch(body);
            }
        } catch (IOException | RuntimeException | Error e) {
            cause = new ConnectionClosedException("reading from " + name + " failed: " + e, e);
        } finally {
            shutdown(cause);
        }
    }

    private void dispatch(byte[] body) {
        JsonElement parsed;
        try {
            parsed = JsonParser.parseString(new String(body, StandardCharsets.UTF_8));
        } catch (JsonParseException | StackOverflowError e) {
            // gson parses recursively: absurdly deep nesting is garbage too, not a dead reader thread.
            handler.onGarbage("frame is not JSON: " + MessageReader.preview(new String(body, StandardCharsets.UTF_8)), body.length);
            return;
        }
        if (!parsed.isJsonObject()) {
            handler.onGarbage("frame is not a JSON-RPC object: " + MessageReader.preview(parsed.toString()), body.length);
            return;
        }
        JsonObject message = parsed.getAsJsonObject();
        JsonElement id = message.get("id");
        JsonElement method = message.get("method");
        JsonElement params = message.get("params");
        try {
            if (method != null && method.isJsonPrimitive()) {
                if (id == null || id.isJsonNull()) {
                    handler.onNotification(method.getAsString(), params);
                } else {
                    answer(id, method.getAsString(), params);
                }
            } else if (id != null && id.isJsonPrimitive() && (message.has("result") || message.has("error"))) {
                complete(id.getAsString(), message);
            } else {
                handler.onGarbage("not a JSON-RPC request, notification or response: " + MessageReader.preview(message.toString()), body.length);
            }
        } catch (RuntimeException e) {
            // A handler bug must not end the connection.
            handler.onGarbage("handling " + MessageReader.preview(message.toString()) + " failed: " + e, 0);
        }
    }

    private void complete(String id, JsonObject response) {
        CompletableFuture<JsonElement> future = pending.remove(id);
        if (future == null) {
            return; // late answer to a cancelled request
        }
        JsonElement error = response.get("error");
        if (error != null && error.isJsonObject()) {
            JsonObject e = error.getAsJsonObject();
            int code = Json.intOr(e, "code", ResponseError.INTERNAL_ERROR);
            future.completeExceptionally(new ResponseError(code, Json.stringOr(e, "message", "error " + code), e.get("data")));
        } else {
            JsonElement result = response.get("result");
            future.complete(result == null ? JsonNull.INSTANCE : result);
        }
    }

    private void answer(JsonElement id, String method, JsonElement params) {
        CompletableFuture<JsonElement> result;
        try {
            result = handler.onRequest(method, params);
        } catch (RuntimeException e) {
            result = CompletableFuture.failedFuture(e);
        }
        result.whenComplete((value, error) -> {
            JsonObject response = new JsonObject();
            response.addProperty("jsonrpc", "2.0");
            response.add("id", id);
            if (error == null) {
                response.add("result", value == null ? JsonNull.INSTANCE : value);
            } else {
                Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
                JsonObject e = new JsonObject();
                if (cause instanceof ResponseError re) {
                    e.addProperty("code", re.code());
                    e.addProperty("message", re.getMessage());
                } else {
                    e.addProperty("code", ResponseError.INTERNAL_ERROR);
                    e.addProperty("message", String.valueOf(cause));
                }
                response.add("error", e);
            }
            send(response);
        });
    }

    private void shutdown(Throwable cause) {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        List<CompletableFuture<JsonElement>> waiting = new ArrayList<>(pending.values());
        pending.clear();
        ConnectionClosedException failure = cause instanceof ConnectionClosedException c
                ? c : new ConnectionClosedException(name + " is closed", cause);
        for (CompletableFuture<JsonElement> f : waiting) {
            f.completeExceptionally(failure);
        }
        // Close the output after anything already queued (e.g. the exit notification) is written.
        try {
            writeThread.execute(() -> {
                try {
                    writer.close();
                } catch (IOException ignored) {
                    // The peer is gone already; nothing left to tell it.
                }
            });
        } catch (RejectedExecutionException ignored) {
            // Already shut down.
        }
        writeThread.shutdown();
        handler.onClose(cause);
    }

    static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }
}
