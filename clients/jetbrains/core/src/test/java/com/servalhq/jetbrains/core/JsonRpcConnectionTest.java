package com.servalhq.jetbrains.core;

import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;

import java.io.IOException;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** Drives a connection through in-memory pipes, playing the agent's side by hand. */
public class JsonRpcConnectionTest {
    private final PipedOutputStream toClient = new PipedOutputStream();
    private final PipedInputStream fromClient = new PipedInputStream(1 << 20);
    private final LinkedBlockingQueue<JsonObject> sent = new LinkedBlockingQueue<>();
    private final List<String> notifications = new CopyOnWriteArrayList<>();
    private final List<String> garbage = new CopyOnWriteArrayList<>();
    private final CompletableFuture<Throwable> closed = new CompletableFuture<>();
    private final JsonRpcConnection connection;

    public JsonRpcConnectionTest() throws IOException {
        PipedInputStream clientIn = new PipedInputStream(toClient, 1 << 20);
        PipedOutputStream clientOut = new PipedOutputStream(fromClient);
        connection = new JsonRpcConnection("test-agent", clientIn, clientOut, new JsonRpcConnection.Handler() {
            @Override
            public void onNotification(String method, JsonElement params) {
                notifications.add(method + " " + params);
            }

            @Override
            public CompletableFuture<JsonElement> onRequest(String method, JsonElement params) {
                if (method.equals("workspace/configuration")) {
                    return CompletableFuture.completedFuture(new JsonPrimitive("configured"));
                }
                return CompletableFuture.failedFuture(new ResponseError(ResponseError.METHOD_NOT_FOUND, "no " + method, null));
            }

            @Override
            public void onGarbage(String description, int skippedBytes) {
                garbage.add(description);
            }

            @Override
            public void onClose(Throwable cause) {
                closed.complete(cause);
            }
        });
        connection.start();
        Thread pump = new Thread(() -> {
            MessageReader r = new MessageReader(fromClient, (d, n) -> { });
            try {
                byte[] frame;
                while ((frame = r.readFrame()) != null) {
                    sent.add(JsonParser.parseString(new String(frame, StandardCharsets.UTF_8)).getAsJsonObject());
                }
            } catch (IOException e) {
                // Pipe closed at the end of the test.
            }
        }, "agent-side-reader");
        pump.setDaemon(true);
        pump.start();
    }

    private void agentWrites(String json) throws IOException {
        toClient.write(MessageWriter.frame(JsonParser.parseString(json)));
        toClient.flush();
    }

    private void agentWritesRaw(String raw) throws IOException {
        toClient.write(raw.getBytes(StandardCharsets.UTF_8));
        toClient.flush();
    }

    private JsonObject nextSent() throws InterruptedException {
        JsonObject m = sent.poll(30, TimeUnit.SECONDS);
        if (m == null) {
            throw new AssertionError("the client sent nothing within 30 s");
        }
        return m;
    }

    @Test
    public void responsesAreMatchedById() throws Exception {
        CompletableFuture<JsonElement> a = connection.request("a", new JsonObject());
        CompletableFuture<JsonElement> b = connection.request("b", null);
        JsonObject ra = nextSent();
        JsonObject rb = nextSent();
        Check.equal("a", ra.get("method").getAsString(), "first request");
        Check.equal("2.0", ra.get("jsonrpc").getAsString(), "jsonrpc version");
        Check.isTrue(!rb.has("params"), "no params member when null");
        agentWrites("{\"jsonrpc\":\"2.0\",\"id\":" + rb.get("id") + ",\"result\":\"B\"}");
        agentWrites("{\"jsonrpc\":\"2.0\",\"id\":" + ra.get("id") + ",\"result\":{\"x\":1}}");
        Check.equal("B", Check.await(b, "b").getAsString(), "b result");
        Check.equal(1, Check.await(a, "a").getAsJsonObject().get("x").getAsInt(), "a result");
        Check.equal(0, connection.pendingCount(), "nothing pending");
    }

    @Test
    public void nullResultIsJsonNull() throws Exception {
        CompletableFuture<JsonElement> a = connection.request("a", null);
        agentWrites("{\"jsonrpc\":\"2.0\",\"id\":" + nextSent().get("id") + ",\"result\":null}");
        Check.equal(JsonNull.INSTANCE, Check.await(a, "a"), "result");
    }

    @Test
    public void errorResponseFailsTheRequest() throws Exception {
        CompletableFuture<JsonElement> a = connection.request("a", null);
        agentWrites("{\"jsonrpc\":\"2.0\",\"id\":" + nextSent().get("id") + ",\"error\":{\"code\":-32601,\"message\":\"nope\"}}");
        Throwable error = Check.awaitFailure(a, "a");
        Check.isTrue(error instanceof ResponseError, "a ResponseError: " + error);
        Check.equal(ResponseError.METHOD_NOT_FOUND, ((ResponseError) error).code(), "code");
        Check.equal("nope", error.getMessage(), "message");
    }

    @Test
    public void cancellingARequestSendsCancelRequest() throws Exception {
        CompletableFuture<JsonElement> a = connection.request("slow", null);
        JsonElement id = nextSent().get("id");
        a.cancel(false);
        JsonObject cancel = nextSent();
        Check.equal("$/cancelRequest", cancel.get("method").getAsString(), "method");
        Check.equal(id, cancel.getAsJsonObject("params").get("id"), "cancelled id");
        Check.isTrue(!cancel.has("id"), "a notification has no id");
        // A late answer to the cancelled request is ignored.
        agentWrites("{\"jsonrpc\":\"2.0\",\"id\":" + id + ",\"result\":1}");
        CompletableFuture<JsonElement> b = connection.request("next", null);
        agentWrites("{\"jsonrpc\":\"2.0\",\"id\":" + nextSent().get("id") + ",\"result\":2}");
        Check.equal(2, Check.await(b, "b").getAsInt(), "later request unaffected");
    }

    @Test
    public void notificationsAreDispatched() throws Exception {
        agentWrites("{\"jsonrpc\":\"2.0\",\"method\":\"serval/status\",\"params\":{\"kind\":\"ready\"}}");
        Check.eventually(() -> notifications.contains("serval/status {\"kind\":\"ready\"}"), "notification delivered: " + notifications);
    }

    @Test
    public void serverRequestsAreAnswered() throws Exception {
        agentWrites("{\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"method\":\"workspace/configuration\",\"params\":{}}");
        JsonObject answer = nextSent();
        Check.equal("s1", answer.get("id").getAsString(), "string id echoed");
        Check.equal("configured", answer.get("result").getAsString(), "result");
        agentWrites("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"unknown/method\"}");
        JsonObject error = nextSent();
        Check.equal(7, error.get("id").getAsInt(), "numeric id echoed");
        Check.equal(ResponseError.METHOD_NOT_FOUND, error.getAsJsonObject("error").get("code").getAsInt(), "MethodNotFound");
    }

    @Test
    public void garbageFramesAreReportedAndReadingContinues() throws Exception {
        agentWritesRaw("Content-Length: 5\r\n\r\nhello");
        agentWritesRaw("Content-Length: 3\r\n\r\n[1]");
        agentWritesRaw("Content-Length: 7\r\n\r\n{\"x\":1}");
        CompletableFuture<JsonElement> a = connection.request("a", null);
        agentWrites("{\"jsonrpc\":\"2.0\",\"id\":" + nextSent().get("id") + ",\"result\":true}");
        Check.equal(true, Check.await(a, "a").getAsBoolean(), "still working");
        Check.equal(3, garbage.size(), "three reports: " + garbage);
    }

    @Test
    public void deeplyNestedJsonIsGarbageNotACrash() throws Exception {
        agentWritesRaw("Content-Length: 200000\r\n\r\n" + "[".repeat(200000));
        CompletableFuture<JsonElement> a = connection.request("a", null);
        agentWrites("{\"jsonrpc\":\"2.0\",\"id\":" + nextSent().get("id") + ",\"result\":1}");
        Check.equal(1, Check.await(a, "a").getAsInt(), "the reader survived");
        Check.equal(1, garbage.size(), "reported: " + garbage);
    }

    @Test
    public void endOfStreamFailsPendingRequests() throws Exception {
        CompletableFuture<JsonElement> a = connection.request("a", null);
        nextSent();
        toClient.close();
        Throwable error = Check.awaitFailure(a, "a");
        Check.isTrue(error instanceof ConnectionClosedException, "ConnectionClosedException: " + error);
        Check.await(closed, "onClose");
        Throwable after = Check.awaitFailure(connection.request("b", null), "request after close");
        Check.isTrue(after instanceof ConnectionClosedException, "closed: " + after);
        Check.awaitFailure(connection.notify("n", null), "notification after close");
    }

    @Test
    public void closeEndsTheClientOutput() throws Exception {
        connection.notify("exit", null);
        connection.close();
        Check.equal("exit", nextSent().get("method").getAsString(), "queued message still written before the close");
        Check.await(closed, "onClose");
        Check.eventually(() -> {
            try {
                return fromClient.read() < 0;
            } catch (IOException e) {
                return true;
            }
        }, "the agent side sees end of input");
    }

}
