package com.servalhq.jetbrains.core;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Figures for the client's share of the keystroke path (`make bench-jetbrains`), printed, not asserted:
 * turning an IDE edit into an incremental change on a 20,000-line document, converting a caret offset to
 * a position, and a JSON-RPC round trip of an inline completion through in-memory pipes (framing, JSON,
 * the writer and reader threads) against a peer that answers at once.
 */
public final class CoreBench {
    private CoreBench() {
    }

    public static void main(String[] args) throws Exception {
        StringBuilder doc = new StringBuilder();
        for (int i = 0; i < 20_000; i++) {
            doc.append("    value_").append(i).append(" = compute(value_").append(i - 1).append(", \"😀 text\")\n");
        }
        TextLineMap map = new TextLineMap(doc);
        System.out.printf("document: %d lines, %d chars%n", map.lineCount(), doc.length());

        int[] offsets = new int[1024];
        for (int i = 0; i < offsets.length; i++) {
            offsets[i] = (int) ((long) doc.length() * i / offsets.length);
        }
        long sink = 0;
        for (int round = 0; round < 3; round++) { // the last round is reported; earlier ones warm up
            int n = 2_000_000;
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) {
                TextChange c = TextChange.fromEdit(map, offsets[i & 1023], "", "x");
                sink += c.range().start().character();
            }
            long t1 = System.nanoTime();
            for (int i = 0; i < n; i++) {
                sink += Positions.positionAt(map, offsets[i & 1023]).line();
            }
            long t2 = System.nanoTime();
            if (round == 2) {
                System.out.printf("TextChange.fromEdit (one typed char): %.0f ns/op%n", (t1 - t0) / (double) n);
                System.out.printf("Positions.positionAt: %.0f ns/op%n", (t2 - t1) / (double) n);
            }
        }

        roundTrips();
        System.out.println("(checksum " + sink + ")");
    }

    /** Inline completion request → response through a connection and an echoing peer; p50/p99 over 20,000 calls. */
    private static void roundTrips() throws IOException, InterruptedException, java.util.concurrent.ExecutionException, java.util.concurrent.TimeoutException {
        PipedOutputStream toClient = new PipedOutputStream();
        PipedInputStream clientIn = new PipedInputStream(toClient, 1 << 20);
        PipedInputStream peerIn = new PipedInputStream(1 << 20);
        PipedOutputStream clientOut = new PipedOutputStream(peerIn);
        JsonRpcConnection connection = new JsonRpcConnection("bench", clientIn, clientOut, new JsonRpcConnection.Handler() {
            @Override
            public void onNotification(String method, JsonElement params) {
            }

            @Override
            public CompletableFuture<JsonElement> onRequest(String method, JsonElement params) {
                return CompletableFuture.completedFuture(null);
            }

            @Override
            public void onGarbage(String description, int skippedBytes) {
            }

            @Override
            public void onClose(Throwable cause) {
            }
        });
        connection.start();
        String item = "{\"items\":[{\"insertText\":\"compute(value_41, \\\"😀 text\\\")\\n    return value_42\","
                + "\"range\":{\"start\":{\"line\":42,\"character\":12},\"end\":{\"line\":42,\"character\":12}},"
                + "\"command\":{\"title\":\"Accept completion\",\"command\":\"serval.acceptCompletion\",\"arguments\":[{\"completionId\":\"cmpl-1\"}]}}]}";
        JsonElement result = JsonParser.parseString(item);
        Thread peer = new Thread(() -> {
            MessageReader reader = new MessageReader(peerIn, (d, n) -> { });
            try {
                byte[] frame;
                while ((frame = reader.readFrame()) != null) {
                    JsonObject request = JsonParser.parseString(new String(frame, StandardCharsets.UTF_8)).getAsJsonObject();
                    JsonObject response = new JsonObject();
                    response.addProperty("jsonrpc", "2.0");
                    response.add("id", request.get("id"));
                    response.add("result", result);
                    toClient.write(MessageWriter.frame(response));
                    toClient.flush();
                }
            } catch (IOException e) {
                // closed at the end
            }
        }, "bench-peer");
        peer.setDaemon(true);
        peer.start();

        JsonObject params = new JsonObject();
        JsonObject textDocument = new JsonObject();
        textDocument.addProperty("uri", "file:///bench/main.py");
        params.add("textDocument", textDocument);
        params.add("position", new Position(42, 12).toJson());
        JsonObject context = new JsonObject();
        context.addProperty("triggerKind", 2);
        params.add("context", context);

        int n = 20_000;
        long[] micros = new long[n];
        for (int round = 0; round < 2; round++) {
            for (int i = 0; i < n; i++) {
                long t0 = System.nanoTime();
                JsonElement r = connection.request("textDocument/inlineCompletion", params).get(10, TimeUnit.SECONDS);
                InlineCompletionList list = InlineCompletionList.fromJson(r);
                micros[i] = (System.nanoTime() - t0) / 1_000;
                if (list.items().size() != 1) {
                    throw new IllegalStateException("bad round trip");
                }
            }
        }
        Arrays.sort(micros);
        System.out.printf("JSON-RPC inline completion round trip (pipes, echo peer, parse): p50 %d µs, p99 %d µs%n",
                micros[n / 2], micros[n * 99 / 100]);
        connection.close();
    }
}
