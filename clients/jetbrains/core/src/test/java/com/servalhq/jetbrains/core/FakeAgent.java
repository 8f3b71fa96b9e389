package com.servalhq.jetbrains.core;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.io.FileOutputStream;
import java.io.FileWriter;
import java.io.IOException;
import java.io.OutputStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * A scripted stand-in for serval-agent, run as a separate process by {@link AgentClientTest} so the
 * client is tested over real pipes. It logs every message it receives (one JSON line each, first the
 * argv) to {@code $FAKE_AGENT_LOG}, keeps the documents with the client's incremental edits applied,
 * and answers an inline completion with the document's full text, so a test can check that sync kept
 * both sides equal. {@code $FAKE_AGENT_MODE} selects misbehaviour:
 * <ul>
 * <li>{@code normal}: a well-behaved agent; a completion on a line containing SLOW is held until it is cancelled
 * <li>{@code crash-once}: exits with code 3 on a completion on a line containing CRASH, once ({@code $FAKE_AGENT_MARKER})
 * <li>{@code garbage-once}: after initialized floods stdout with non-LSP lines, once
 * <li>{@code noisy}: one garbage line before every message it sends
 * <li>{@code hang}: never answers initialize
 * <li>{@code fullsync}: asks for full document sync
 * <li>{@code copilot}: reports status only through didChangeStatus
 * </ul>
 */
public final class FakeAgent {
    private final OutputStream out = new FileOutputStream(java.io.FileDescriptor.out);
    private final Writer log;
    private final String mode;
    private final Path marker;
    private final Map<String, StringBuilder> documents = new HashMap<>();
    private final Map<String, JsonElement> heldRequests = new java.util.concurrent.ConcurrentHashMap<>();
    private final ScheduledExecutorService timers = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r);
        t.setDaemon(true);
        return t;
    });
    private boolean shutdownReceived;

    private FakeAgent(String logPath, String mode, String marker) throws IOException {
        this.log = logPath == null ? Writer.nullWriter() : new FileWriter(logPath, StandardCharsets.UTF_8, true);
        this.mode = mode == null ? "normal" : mode;
        this.marker = marker == null ? null : Path.of(marker);
    }

    public static void main(String[] args) throws Exception {
        FakeAgent agent = new FakeAgent(System.getenv("FAKE_AGENT_LOG"), System.getenv("FAKE_AGENT_MODE"), System.getenv("FAKE_AGENT_MARKER"));
        JsonObject argv = new JsonObject();
        JsonArray list = new JsonArray();
        for (String a : args) {
            list.add(a);
        }
        argv.add("argv", list);
        agent.logLine(argv);
        System.exit(agent.run());
    }

    private int run() throws IOException {
        MessageReader reader = new MessageReader(System.in, (d, n) -> System.err.println("fake agent got garbage: " + d));
        byte[] frame;
        while ((frame = reader.readFrame()) != null) {
            JsonObject message = JsonParser.parseString(new String(frame, StandardCharsets.UTF_8)).getAsJsonObject();
            logLine(message);
            Integer exit = handle(message);
            if (exit != null) {
                return exit;
            }
        }
        System.err.println("fake agent: stdin closed");
        return 2;
    }

    private synchronized void logLine(JsonObject o) throws IOException {
        log.write(o.toString() + "\n");
        log.flush();
    }

    private synchronized void send(JsonObject message) {
        try {
            if (mode.equals("noisy")) {
                out.write("this is not LSP\n".getBytes(StandardCharsets.UTF_8));
            }
            out.write(MessageWriter.frame(message));
            out.flush();
        } catch (IOException e) {
            System.err.println("fake agent: write failed: " + e);
        }
    }

    private void respond(JsonElement id, JsonElement result) {
        JsonObject r = new JsonObject();
        r.addProperty("jsonrpc", "2.0");
        r.add("id", id);
        r.add("result", result == null ? com.google.gson.JsonNull.INSTANCE : result);
        send(r);
    }

    private void respondError(JsonElement id, int code, String message) {
        JsonObject r = new JsonObject();
        r.addProperty("jsonrpc", "2.0");
        r.add("id", id);
        JsonObject e = new JsonObject();
        e.addProperty("code", code);
        e.addProperty("message", message);
        r.add("error", e);
        send(r);
    }

    private void notifyClient(String method, JsonObject params) {
        JsonObject n = new JsonObject();
        n.addProperty("jsonrpc", "2.0");
        n.addProperty("method", method);
        n.add("params", params);
        send(n);
    }

    private void status(String kind, String message) {
        JsonObject p = new JsonObject();
        if (mode.equals("copilot")) {
            p.addProperty("kind", kind.equals("ready") ? "Normal" : "Error");
            p.addProperty("message", message);
            notifyClient("didChangeStatus", p);
        } else {
            p.addProperty("kind", kind);
            p.addProperty("message", message);
            notifyClient("serval/status", p);
        }
    }

    /** Returns an exit code when the process should end. */
    private Integer handle(JsonObject m) {
        String method = m.has("method") ? m.get("method").getAsString() : null;
        JsonElement id = m.get("id");
        JsonObject params = m.has("params") && m.get("params").isJsonObject() ? m.getAsJsonObject("params") : new JsonObject();
        if (method == null) {
            return null; // a response to our workspace/configuration request; logged already
        }
        switch (method) {
            case "initialize" -> {
                if (mode.equals("hang")) {
                    return null;
                }
                JsonObject caps = new JsonObject();
                caps.addProperty("positionEncoding", "utf-16");
                JsonObject sync = new JsonObject();
                sync.addProperty("openClose", true);
                sync.addProperty("change", mode.equals("fullsync") ? 1 : 2);
                caps.add("textDocumentSync", sync);
                caps.addProperty("inlineCompletionProvider", true);
                JsonObject result = new JsonObject();
                result.add("capabilities", caps);
                respond(id, result);
            }
            case "initialized" -> {
                JsonObject cfg = new JsonObject();
                JsonArray items = new JsonArray();
                JsonObject item = new JsonObject();
                item.addProperty("section", "serval");
                items.add(item);
                cfg.add("items", items);
                JsonObject request = new JsonObject();
                request.addProperty("jsonrpc", "2.0");
                request.addProperty("id", "cfg-1");
                request.addProperty("method", "workspace/configuration");
                request.add("params", cfg);
                send(request);
                status("ready", "");
                if (mode.equals("garbage-once") && firstTime()) {
                    synchronized (this) {
                        try {
                            for (int i = 0; i < 500; i++) {
                                out.write(("garbage line " + i + "\n").getBytes(StandardCharsets.UTF_8));
                            }
                            out.flush();
                        } catch (IOException e) {
                            // The client killed us; fine.
                        }
                    }
                }
            }
            case "textDocument/didOpen" -> {
                JsonObject doc = params.getAsJsonObject("textDocument");
                documents.put(doc.get("uri").getAsString(), new StringBuilder(doc.get("text").getAsString()));
            }
            case "textDocument/didChange" -> {
                StringBuilder text = documents.get(params.getAsJsonObject("textDocument").get("uri").getAsString());
                for (JsonElement e : params.getAsJsonArray("contentChanges")) {
                    JsonObject change = e.getAsJsonObject();
                    if (!change.has("range")) {
                        text.setLength(0);
                        text.append(change.get("text").getAsString());
                        continue;
                    }
                    int[] span = Positions.offsetsOf(new TextLineMap(text), Range.fromJson(change.getAsJsonObject("range")));
                    text.replace(span[0], span[1], change.get("text").getAsString());
                }
            }
            case "textDocument/didClose" -> documents.remove(params.getAsJsonObject("textDocument").get("uri").getAsString());
            case "textDocument/inlineCompletion" -> {
                return completion(id, params);
            }
            case "$/cancelRequest" -> {
                JsonElement held = heldRequests.remove(params.get("id").toString());
                if (held != null) {
                    respondError(held, ResponseError.REQUEST_CANCELLED, "cancelled");
                }
            }
            case "workspace/didChangeConfiguration" -> {
                JsonObject server = params.getAsJsonObject("settings").getAsJsonObject("serval").getAsJsonObject("server");
                if (server.has("token") && server.get("token").getAsString().equals("bad")) {
                    status("unauthorized", "token rejected");
                } else {
                    status("ready", "");
                }
            }
            case "workspace/executeCommand" -> {
                if (!SignIn.COMMAND.equals(params.get("command").getAsString())) {
                    respond(id, null);
                    return null;
                }
                // The sign-in: the code first, then (mode signin-hold) nothing until cancelled,
                // (signin-deny) the agent's error, else the token.
                JsonObject prompt = new JsonObject();
                prompt.addProperty("userCode", "BCDF-GHJK");
                prompt.addProperty("verificationUri", "http://127.0.0.1:9/device");
                prompt.addProperty("verificationUriComplete", "http://127.0.0.1:9/device?user_code=BCDF-GHJK");
                prompt.addProperty("expiresIn", 600);
                notifyClient(SignIn.NOTIFICATION, prompt);
                if (mode.equals("signin-hold")) {
                    heldRequests.put(id.toString(), id);
                } else if (mode.equals("signin-deny")) {
                    respondError(id, ResponseError.INTERNAL_ERROR, "sign-in denied in the browser");
                } else {
                    JsonObject result = new JsonObject();
                    result.addProperty("token", "srv_signedin");
                    result.addProperty("tokenName", "box");
                    result.addProperty("user", "alice");
                    result.addProperty("endpoint", "http://127.0.0.1:9");
                    respond(id, result);
                }
            }
            case "shutdown" -> {
                shutdownReceived = true;
                respond(id, null);
            }
            case "exit" -> {
                return shutdownReceived ? 0 : 1;
            }
            default -> {
                if (id != null) {
                    respondError(id, ResponseError.METHOD_NOT_FOUND, "unknown " + method);
                }
            }
        }
        return null;
    }

    /** An inline completion item whose accept command carries its candidate's index. */
    private static JsonObject item(String text, Position pos, int choiceIndex) {
        JsonObject item = new JsonObject();
        item.addProperty("insertText", text);
        item.add("range", new Range(pos, pos).toJson());
        JsonObject command = new JsonObject();
        command.addProperty("title", "accept");
        command.addProperty("command", "serval.accept");
        JsonArray args = new JsonArray();
        JsonObject arg = new JsonObject();
        arg.addProperty("n", 1);
        arg.addProperty("choiceIndex", choiceIndex);
        args.add(arg);
        command.add("arguments", args);
        item.add("command", command);
        return item;
    }

    private Integer completion(JsonElement id, JsonObject params) {
        String uri = params.getAsJsonObject("textDocument").get("uri").getAsString();
        StringBuilder text = documents.get(uri);
        if (text == null) {
            respond(id, null);
            return null;
        }
        Position pos = Position.fromJson(params.getAsJsonObject("position"));
        TextLineMap map = new TextLineMap(text);
        int line = Math.min(pos.line(), map.lineCount() - 1);
        String lineText = text.substring(map.lineStart(line), map.lineEnd(line));
        if (lineText.contains("CRASH") && mode.equals("crash-once") && firstTime()) {
            System.err.println("fake agent: crashing as asked");
            return 3;
        }
        if (lineText.contains("SLOW")) {
            heldRequests.put(id.toString(), id);
            timers.schedule(() -> {
                synchronized (this) {
                    if (heldRequests.remove(id.toString()) != null) {
                        respond(id, null);
                    }
                }
            }, 20, TimeUnit.SECONDS);
            return null;
        }
        JsonArray itemList = new JsonArray();
        itemList.add(item("text=" + text, pos, 0));
        // An explicit request on a CYCLE line: several candidates, as the agent answers (choiceIndex is
        // the server's candidate index; the second one was a duplicate and left out).
        JsonObject context = params.getAsJsonObject("context");
        if (lineText.contains("CYCLE") && context != null && context.get("triggerKind").getAsInt() == 1) {
            itemList.add(item("candidate two", pos, 2));
            itemList.add(item("candidate three", pos, 3));
        }
        JsonObject result = new JsonObject();
        result.add("items", itemList);
        respond(id, result);
        return null;
    }

    /** True the first time it is called across processes sharing the marker file. */
    private boolean firstTime() {
        if (marker == null) {
            return true;
        }
        try {
            Files.createFile(marker);
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
