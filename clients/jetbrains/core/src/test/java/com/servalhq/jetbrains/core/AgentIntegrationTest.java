package com.servalhq.jetbrains.core;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The plugin's core against the real binaries: {@code serval} serving the generated test model and
 * {@code serval-agent} launched by {@link AgentClient} exactly as the plugin launches it (located as a
 * configured path, spawned over stdio with stderr drained, initialized with the endpoint and token).
 *
 * <p>Environment: {@code SERVAL_BIN_DIR} (default {@code bin} under the working directory) and
 * {@code SERVAL_TEST_MODEL} (the GGUF written by {@code serval-testmodel}). Skips only when
 * {@code serval-agent} is not built; anything else missing is a failure.
 */
public class AgentIntegrationTest {
    private static final Pattern LISTENING = Pattern.compile("listening on (http://127\\.0\\.0\\.1:(\\d+))");

    private final Path binDir;
    private final Path model;
    private final Path dataDir;
    private final Path home;
    private final List<AgentStatus> statuses = new CopyOnWriteArrayList<>();
    private final List<String> log = new CopyOnWriteArrayList<>();
    private Process server;
    private String endpoint;
    private int port;

    public AgentIntegrationTest() throws IOException {
        String bin = System.getenv("SERVAL_BIN_DIR");
        binDir = Path.of(bin == null || bin.isEmpty() ? "bin" : bin).toAbsolutePath();
        String m = System.getenv("SERVAL_TEST_MODEL");
        model = m == null || m.isEmpty() ? null : Path.of(m).toAbsolutePath();
        dataDir = Files.createTempDirectory("serval-jb-data");
        home = Files.createTempDirectory("serval-jb-home");
    }

    private void requireBinaries() {
        if (!Files.isExecutable(binDir.resolve("serval-agent"))) {
            throw new Skip(binDir.resolve("serval-agent") + " is not built (run `make build`)");
        }
        Check.isTrue(Files.isExecutable(binDir.resolve("serval")), binDir.resolve("serval") + " is not built");
        Check.isTrue(model != null && Files.isRegularFile(model), "SERVAL_TEST_MODEL must name the generated test model, got " + model);
    }

    /** Starts serval on {@code listenPort} (0: any) and waits for its "listening on" line. */
    private void startServer(int listenPort) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(binDir.resolve("serval").toString(), "serve", "--model", model.toString(),
                "--port", Integer.toString(listenPort), "--data-dir", dataDir.toString(), "--threads", "1");
        pb.redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.redirectError(ProcessBuilder.Redirect.PIPE);
        server = pb.start();
        CompletableFuture<String> listening = new CompletableFuture<>();
        Process p = server;
        Thread drain = new Thread(() -> {
            try (BufferedReader err = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = err.readLine()) != null) {
                    log.add("[serval] " + line);
                    Matcher matcher = LISTENING.matcher(line);
                    if (matcher.find()) {
                        listening.complete(matcher.group(1));
                    }
                }
            } catch (IOException e) {
                // Process ended.
            }
            listening.completeExceptionally(new AssertionError("serval exited before listening:\n" + String.join("\n", log)));
        }, "serval-stderr");
        drain.setDaemon(true);
        drain.start();
        endpoint = listening.get(60, TimeUnit.SECONDS);
        port = Integer.parseInt(endpoint.substring(endpoint.lastIndexOf(':') + 1));
    }

    private void stopServer() throws Exception {
        if (server != null && server.isAlive()) {
            server.destroy();
            if (!server.waitFor(20, TimeUnit.SECONDS)) {
                server.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    private AgentClient client(String token) {
        AgentClient client = new AgentClient(new AgentClientOptions()
                // As the plugin does: bundled folder (absent here), then the configured path, then PATH.
                .locator(() -> new AgentLocator(home.resolve("no-bundle"), binDir.resolve("serval-agent").toString(),
                        System.getenv("PATH"), AgentLocator.currentOs(), AgentLocator.currentArch()).locate())
                // Keep the machine's own ~/.config/serval/agent.toml and SERVAL_* out of the test.
                .environment(Map.of("HOME", home.toString(), "XDG_CONFIG_HOME", home.resolve(".config").toString(),
                        "SERVAL_ENDPOINT", "", "SERVAL_TOKEN", ""))
                .workspace(home, home.toUri().toString())
                .server(new ServerSettings(endpoint, token))
                .restartPolicy(new RestartPolicy(200, 2_000, 5, 60_000, 120_000))
                .log(new RecordingLog(log)));
        client.addStatusListener(statuses::add);
        return client;
    }

    private void eventuallyStatus(AgentClient client, AgentStatus.Kind kind) throws InterruptedException {
        try {
            Check.eventually(() -> client.status().kind() == kind, "status " + kind);
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "; statuses " + statuses + "\nlog:\n" + tail());
        }
    }

    private String tail() {
        List<String> lines = new ArrayList<>(log);
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    }

    /** An item and where it was asked for. */
    private record Asked(InlineCompletionItem item, Position position) {
    }

    /** Asks for completions at a few line ends until one has items (a random-weight model may yield nothing at a given spot). */
    private Asked firstItem(AgentClient client, String uri, String[] lines) throws Exception {
        for (int attempt = 0; attempt < lines.length; attempt++) {
            Position at = new Position(attempt, lines[attempt].length());
            InlineCompletionList list = Check.await(client.inlineCompletion(uri, at, TriggerKind.INVOKED), "completion at " + at);
            if (!list.isEmpty()) {
                return new Asked(list.items().get(0), at);
            }
        }
        throw new AssertionError("no completion items at any of " + lines.length + " positions\nlog:\n" + tail());
    }

    @Test
    public void completesCancelsReportsStatusAndShutsDownCleanly() throws Exception {
        requireBinaries();
        AgentClient client = null;
        try {
            startServer(0);
            String token = Files.readString(dataDir.resolve("initial-token")).trim();
            client = client(token);
            Check.await(client.start(), "agent initialized");
            eventuallyStatus(client, AgentStatus.Kind.READY);

            // A document, with non-ASCII text so positions are exercised in UTF-16.
            String uri = home.resolve("main.py").toUri().toString();
            String[] lines = {"# 😀 héllo", "def add(a, b):", "    return a", "class Point:", "    def __init__(self, x, y):", "        self.x = x", "import os", "for i in range(10):", ""};
            StringBuilder text = new StringBuilder(String.join("\n", lines));
            Check.await(client.openDocument(uri, "python", 1, text.toString(), text::toString), "didOpen");

            Asked asked = firstItem(client, uri, lines);
            InlineCompletionItem item = asked.item();
            log.add("INFO completion item: " + item.raw());
            TextLineMap map = new TextLineMap(text);
            int caret = Positions.offsetAt(map, asked.position());
            InlineCompletionItem.Placement placement = item.place(map, caret);
            Check.isTrue(placement != null, "the item's range fits the document at the caret: " + item.raw());
            Check.isTrue(!placement.ghostText().isEmpty(), "there is ghost text to show");
            Check.await(client.didShow(item), "didShowCompletion");

            // Accept a word the way the plugin does: type it into the document, report the partial
            // acceptance, ask again at the new caret. The agent answers from its typed-ahead cache.
            String ghost = placement.ghostText();
            int take = Math.min(PartialAcceptance.nextWordLength(ghost), ghost.length() - 1);
            System.out.println("partial accept: " + take + " of " + ghost.length() + " units of the ghost text");
            if (take > 0) {
                String part = ghost.substring(0, take);
                text.insert(caret, part);
                map = new TextLineMap(text);
                Check.await(client.changeDocument(uri, 2, List.of(TextChange.fromEdit(map, caret, "", part))), "didChange (typed part)");
                Check.await(client.partiallyAccepted(item, placement.typedLength() + take), "didPartiallyAcceptCompletion");
                int newCaret = caret + take;
                InlineCompletionList rest = Check.await(client.inlineCompletion(uri, Positions.positionAt(map, newCaret), TriggerKind.INVOKED), "completion after the partial accept");
                Check.isTrue(!rest.isEmpty(), "the rest of the suggestion is offered again");
                InlineCompletionItem.Placement restPlacement = rest.items().get(0).place(map, newCaret);
                Check.isTrue(restPlacement != null, "the new item fits the document");
                Check.equal(ghost.substring(take), restPlacement.ghostText(), "the ghost text continues where the accepted part ended");
                item = rest.items().get(0);
            }
            Check.await(client.accepted(item), "acceptance command (workspace/executeCommand)");

            // Incremental edit, then two requests back to back: the agent debounces automatic
            // triggers, so the first is still in flight when the second supersedes it.
            map = new TextLineMap(text);
            int end = text.length();
            Position endPos = Positions.positionAt(map, end);
            text.append("\ndef mul(a, b):\n    return a *");
            Check.await(client.changeDocument(uri, 3, List.of(new TextChange(new Range(endPos, endPos), "\ndef mul(a, b):\n    return a *"))), "didChange");
            Position cursor = new Position(lines.length + 1, "    return a *".length());
            CompletableFuture<InlineCompletionList> first = client.inlineCompletion(uri, cursor, TriggerKind.AUTOMATIC);
            CompletableFuture<InlineCompletionList> second = client.inlineCompletion(uri, cursor, TriggerKind.AUTOMATIC);
            Check.await(second, "the newer request is answered");
            Check.isTrue(first.isCancelled(), "the superseded request was cancelled");

            // The server goes away: the agent reports it, and completions answer (empty) instead of hanging.
            stopServer();
            // A new line the agent has no cached suggestion for.
            map = new TextLineMap(text);
            Position tail = Positions.positionAt(map, text.length());
            text.append("\nzq_unseen = ");
            Check.await(client.changeDocument(uri, 4, List.of(new TextChange(new Range(tail, tail), "\nzq_unseen = "))), "didChange");
            Position unseen = new Position(tail.line() + 1, "zq_unseen = ".length());
            InlineCompletionList whileDown = Check.await(client.inlineCompletion(uri, unseen, TriggerKind.INVOKED), "completion with the server down");
            Check.isTrue(whileDown.isEmpty(), "no items without a server");
            eventuallyStatus(client, AgentStatus.Kind.DISCONNECTED);
            Check.isTrue(client.status().kind().isProblem(), "disconnected is shown as a problem");

            // And back, on the same port: the agent notices by itself.
            startServer(port);
            eventuallyStatus(client, AgentStatus.Kind.READY);

            long pid = Check.await(client.agentPid(), "agent pid");
            List<ProcessHandle> children = ProcessHandle.of(pid).map(h -> h.descendants().toList()).orElse(List.of());
            int code = Check.await(client.shutdown(), "shutdown");
            Check.equal(0, code, "serval-agent exit code after shutdown/exit");
            Check.isTrue(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false) == false, "serval-agent process is gone");
            for (ProcessHandle child : children) {
                Check.isTrue(!child.isAlive(), "no orphaned child process " + child.pid());
            }
            Check.equal(AgentStatus.Kind.STOPPED, client.status().kind(), "stopped");
            client = null;
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "\nlog tail:\n" + tail(), e);
        } finally {
            if (client != null) {
                client.shutdown();
            }
            stopServer();
        }
    }

    @Test
    public void killedAgentIsRestartedAndCompletesAgain() throws Exception {
        requireBinaries();
        AgentClient client = null;
        try {
            startServer(0);
            client = client(Files.readString(dataDir.resolve("initial-token")).trim());
            Check.await(client.start(), "agent initialized");
            String uri = home.resolve("k.go").toUri().toString();
            String[] lines = {"package main", "func main() {", "\tfmt.Println(", "}", ""};
            String text = String.join("\n", lines);
            client.openDocument(uri, "go", 1, text, () -> text);
            long pid = Check.await(client.agentPid(), "pid");
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            AgentClient c = client;
            Check.eventually(() -> c.status().kind() == AgentStatus.Kind.AGENT_FAILED, "failure reported: " + statuses);
            Check.await(client.whenReady(), "restarted");
            Check.isTrue(Check.await(client.agentPid(), "new pid") != pid, "a new agent process");
            eventuallyStatus(client, AgentStatus.Kind.READY);
            firstItem(client, uri, lines); // the document was reopened in the new agent
            Check.equal(0, Check.await(client.shutdown(), "shutdown"), "exit code");
            client = null;
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "\nlog tail:\n" + tail(), e);
        } finally {
            if (client != null) {
                client.shutdown();
            }
            stopServer();
        }
    }

    /** The server's count of answered completion requests (warm-ups included), from /metrics. */
    private double completionRequests(String token) throws Exception {
        HttpResponse<String> resp = HttpClient.newHttpClient().send(
                HttpRequest.newBuilder(URI.create(endpoint + "/metrics"))
                        .header("Authorization", "Bearer " + token).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString());
        Check.equal(200, resp.statusCode(), "GET /metrics");
        String name = "serval_http_request_duration_seconds_count{code=\"200\",route=\"POST /v1/completions\"}";
        for (String line : resp.body().split("\n")) {
            if (line.startsWith(name)) {
                return Double.parseDouble(line.substring(name.length()).trim());
            }
        }
        return 0;
    }

    @Test
    public void selectingAnEditorWarmsTheServer() throws Exception {
        requireBinaries();
        AgentClient client = null;
        try {
            startServer(0);
            String token = Files.readString(dataDir.resolve("initial-token")).trim();
            client = client(token);
            Check.await(client.start(), "agent initialized");
            eventuallyStatus(client, AgentStatus.Kind.READY);
            String uri = home.resolve("w.go").toUri().toString();
            String text = "package main\n\nfunc add(a, b int) int {\n\treturn a + b\n}\n";
            Check.await(client.openDocument(uri, "go", 1, text, () -> text), "didOpen");
            Check.equal(0.0, completionRequests(token), "completion requests before any focus");
            // No completion is asked for: a request the server answers is the agent's warm-up.
            Check.await(client.editorSelected(uri, new Position(3, 13)), "editor selected");
            Check.eventually(() -> {
                try {
                    return completionRequests(token) >= 1;
                } catch (Exception e) {
                    return false;
                }
            }, "the agent's warm-up reaches the server");
            Check.equal(0, Check.await(client.shutdown(), "shutdown"), "exit code");
            client = null;
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "\nlog tail:\n" + tail(), e);
        } finally {
            if (client != null) {
                client.shutdown();
            }
            stopServer();
        }
    }
}
