package com.servalhq.jetbrains.core;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The client against {@link FakeAgent} running as a real child process, found on a PATH the test
 * builds, exactly as the plugin would find serval-agent.
 */
public class AgentClientTest {
    private final Path dir;
    private final Path logFile;
    private final Path wrapperDir;
    private final List<AgentStatus> statuses = new CopyOnWriteArrayList<>();
    private final List<String> logLines = new CopyOnWriteArrayList<>();
    private AgentClient client;

    public AgentClientTest() throws IOException {
        dir = Files.createTempDirectory("serval-client-test");
        logFile = dir.resolve("received.jsonl");
        wrapperDir = dir.resolve("bin");
        Files.createDirectories(wrapperDir);
        Path wrapper = wrapperDir.resolve(AgentLocator.BINARY);
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Files.writeString(wrapper, "#!/bin/sh\nexec '" + java + "' -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto -cp '"
                + System.getProperty("java.class.path") + "' com.servalhq.jetbrains.core.FakeAgent \"$@\"\n");
        Files.setPosixFilePermissions(wrapper, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    private AgentClientOptions options(String mode) {
        return new AgentClientOptions()
                .locator(() -> new AgentLocator(null, null, wrapperDir.toString(), "linux", "amd64").locate())
                .environment(Map.of("FAKE_AGENT_LOG", logFile.toString(), "FAKE_AGENT_MODE", mode,
                        "FAKE_AGENT_MARKER", dir.resolve("marker").toString()))
                .server(new ServerSettings("http://127.0.0.1:9", "srv_test"))
                .restartPolicy(new RestartPolicy(50, 200, 10, 60_000, 120_000))
                .timeouts(20_000, 5_000, 30_000)
                // No rest: a focus report is queued before the client's next call (if the test awaits each),
        // so what the agent receives, and in what order, is exact.
                .focusRest(0)
                .log(new RecordingLog(logLines));
    }

    private AgentClient started(String mode) throws Exception {
        client = new AgentClient(options(mode));
        client.addStatusListener(statuses::add);
        Check.await(client.start(), "start");
        return client;
    }

    /** Messages the fake agent received, in order. */
    private List<JsonObject> received() throws IOException {
        List<JsonObject> out = new ArrayList<>();
        if (!Files.exists(logFile)) {
            return out;
        }
        for (String line : Files.readAllLines(logFile, StandardCharsets.UTF_8)) {
            if (!line.isBlank()) {
                out.add(JsonParser.parseString(line).getAsJsonObject());
            }
        }
        return out;
    }

    private List<JsonObject> received(String method) throws IOException {
        List<JsonObject> out = new ArrayList<>();
        for (JsonObject m : received()) {
            if (m.has("method") && m.get("method").getAsString().equals(method)) {
                out.add(m);
            }
        }
        return out;
    }

    private void awaitReceived(String method, int count) throws Exception {
        Check.eventually(() -> {
            try {
                return received(method).size() >= count;
            } catch (IOException e) {
                return false;
            }
        }, count + " x " + method + " received by the agent");
    }

    private void shutdownCleanly() throws Exception {
        long pid = Check.await(client.agentPid(), "pid");
        Check.equal(0, Check.await(client.shutdown(), "shutdown"), "exit code after shutdown + exit");
        Check.isTrue(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false) == false, "agent process gone");
        Check.equal(AgentStatus.Kind.STOPPED, client.status().kind(), "status after shutdown");
    }

    @Test
    public void initializeSendsCapabilitiesAndSettings() throws Exception {
        started("normal");
        List<JsonObject> all = received();
        Check.equal("[\"--stdio\"]", all.get(0).get("argv").toString(), "agent launched with --stdio");
        JsonObject init = received("initialize").get(0).getAsJsonObject("params");
        Check.equal("[\"utf-16\"]", init.getAsJsonObject("capabilities").getAsJsonObject("general").get("positionEncodings").toString(), "UTF-16 positions");
        Check.isTrue(init.getAsJsonObject("capabilities").getAsJsonObject("textDocument").has("inlineCompletion"), "inline completion capability");
        JsonObject server = init.getAsJsonObject("initializationOptions").getAsJsonObject("server");
        Check.equal("http://127.0.0.1:9", server.get("endpoint").getAsString(), "endpoint");
        Check.equal("srv_test", server.get("token").getAsString(), "token");
        Check.equal(ProcessHandle.current().pid(), init.get("processId").getAsLong(), "processId");
        awaitReceived("initialized", 1);
        // The agent's workspace/configuration request was answered with the serval section.
        Check.eventually(() -> {
            try {
                return received().stream().anyMatch(m -> m.has("id") && m.get("id").getAsString().equals("cfg-1") && m.has("result"));
            } catch (IOException e) {
                return false;
            }
        }, "workspace/configuration answered");
        JsonObject answer = received().stream().filter(m -> m.has("id") && m.get("id").getAsString().equals("cfg-1")).findFirst().orElseThrow();
        Check.equal("srv_test", answer.getAsJsonArray("result").get(0).getAsJsonObject().getAsJsonObject("server").get("token").getAsString(), "configuration answer");
        Check.eventually(() -> client.status().kind() == AgentStatus.Kind.READY, "ready status");
        shutdownCleanly();
        List<String> methods = received().stream().filter(m -> m.has("method")).map(m -> m.get("method").getAsString()).toList();
        Check.equal(List.of("shutdown", "exit"), methods.subList(methods.size() - 2, methods.size()), "shutdown then exit");
    }

    @Test
    public void incrementalSyncKeepsTheAgentsCopyEqual() throws Exception {
        started("normal");
        String uri = "file:///tmp/a.py";
        StringBuilder local = new StringBuilder("def f():\r\n    return 1\n# 😀 世界\n");
        client.openDocument(uri, "python", 1, local.toString(), local::toString);
        // Edit the way the plugin does: ranges computed on the text before each change.
        String[][] edits = {{"2", "4", "2", "4", "x"}, {"0", "4", "0", "5", "g"}, {"1", "11", "1", "12", "42"}, {"2", "0", "2", "2", ""}, {"3", "0", "3", "0", "print()"}};
        int version = 1;
        for (String[] e : edits) {
            TextLineMap map = new TextLineMap(local);
            Range range = new Range(new Position(Integer.parseInt(e[0]), Integer.parseInt(e[1])), new Position(Integer.parseInt(e[2]), Integer.parseInt(e[3])));
            int[] span = Positions.offsetsOf(map, range);
            local.replace(span[0], span[1], e[4]);
            client.changeDocument(uri, ++version, List.of(new TextChange(range, e[4])));
        }
        InlineCompletionList list = Check.await(client.inlineCompletion(uri, new Position(3, 7), TriggerKind.AUTOMATIC), "completion");
        Check.equal(1, list.items().size(), "one item");
        Check.equal("text=" + local, list.items().get(0).insertText(), "the agent's copy after incremental edits");
        for (JsonObject change : received("textDocument/didChange")) {
            JsonObject c = change.getAsJsonObject("params").getAsJsonArray("contentChanges").get(0).getAsJsonObject();
            Check.isTrue(c.has("range"), "incremental change");
            Check.isTrue(c.get("text").getAsString().length() <= 7, "only the fragment travels: " + c);
        }
        Check.equal(6, received("textDocument/didChange").get(4).getAsJsonObject("params").getAsJsonObject("textDocument").get("version").getAsInt(), "versions");
        Check.equal(2, received("textDocument/inlineCompletion").get(0).getAsJsonObject("params").getAsJsonObject("context").get("triggerKind").getAsInt(), "automatic trigger");
        shutdownCleanly();
    }

    @Test
    public void everyCandidateReachesTheClient() throws Exception {
        started("normal");
        String uri = "file:///tmp/c.py";
        client.openDocument(uri, "python", 1, "x = CYCLE\n", () -> "x = CYCLE\n");
        // Typing gets the one item; an explicit request gets every candidate, in the agent's order.
        InlineCompletionList one = Check.await(client.inlineCompletion(uri, new Position(0, 4), TriggerKind.AUTOMATIC), "automatic");
        Check.equal(1, one.items().size(), "one item on typing");
        InlineCompletionList list = Check.await(client.inlineCompletion(uri, new Position(0, 4), TriggerKind.INVOKED), "invoked");
        Check.equal(3, list.items().size(), "every candidate");
        Check.equal("candidate two", list.items().get(1).insertText(), "second");
        Check.equal("candidate three", list.items().get(2).insertText(), "third");
        Check.equal(1, received("textDocument/inlineCompletion").get(1).getAsJsonObject("params").getAsJsonObject("context").get("triggerKind").getAsInt(), "invoked trigger");
        // Accepting the third runs its own command, which carries its candidate's index.
        Check.await(client.accepted(list.items().get(2)), "accept the third");
        awaitReceived("workspace/executeCommand", 1);
        JsonObject arg = received("workspace/executeCommand").get(0).getAsJsonObject("params").getAsJsonArray("arguments").get(0).getAsJsonObject();
        Check.equal(3, arg.get("choiceIndex").getAsInt(), "the accepted candidate's index");
        shutdownCleanly();
    }

    @Test
    public void supersededRequestIsCancelled() throws Exception {
        started("normal");
        String uri = "file:///tmp/b.go";
        client.openDocument(uri, "go", 1, "SLOW\nfast\n", () -> "SLOW\nfast\n");
        CompletableFuture<InlineCompletionList> first = client.inlineCompletion(uri, new Position(0, 4), TriggerKind.AUTOMATIC);
        awaitReceived("textDocument/inlineCompletion", 1);
        CompletableFuture<InlineCompletionList> second = client.inlineCompletion(uri, new Position(1, 4), TriggerKind.INVOKED);
        InlineCompletionList list = Check.await(second, "second");
        Check.equal(1, list.items().size(), "the newer request is answered");
        Check.isTrue(first.isCancelled(), "the superseded request is cancelled");
        awaitReceived("$/cancelRequest", 1);
        JsonElement firstId = received("textDocument/inlineCompletion").get(0).get("id");
        Check.equal(firstId, received("$/cancelRequest").get(0).getAsJsonObject("params").get("id"), "$/cancelRequest names the first request");

        // The caller cancelling its own future cancels on the agent too.
        CompletableFuture<InlineCompletionList> third = client.inlineCompletion(uri, new Position(0, 1), TriggerKind.AUTOMATIC);
        awaitReceived("textDocument/inlineCompletion", 3);
        third.cancel(false);
        awaitReceived("$/cancelRequest", 2);
        shutdownCleanly();
    }

    @Test
    public void statusNotificationsReachListeners() throws Exception {
        started("normal");
        Check.await(client.updateServerSettings(new ServerSettings("http://127.0.0.1:9", "bad")), "settings");
        Check.eventually(() -> client.status().kind() == AgentStatus.Kind.UNAUTHORIZED, "unauthorized: " + statuses);
        Check.equal("token rejected", client.status().message(), "message");
        JsonObject sent = received("workspace/didChangeConfiguration").get(0).getAsJsonObject("params");
        Check.equal("bad", sent.getAsJsonObject("settings").getAsJsonObject("serval").getAsJsonObject("server").get("token").getAsString(), "settings sent under serval");
        client.updateServerSettings(new ServerSettings("http://127.0.0.1:9", "good"));
        Check.eventually(() -> client.status().kind() == AgentStatus.Kind.READY, "ready again: " + statuses);
        Check.isTrue(statuses.stream().anyMatch(s -> s.kind() == AgentStatus.Kind.UNAUTHORIZED), "listener saw unauthorized");
        shutdownCleanly();
    }

    @Test
    public void copilotStyleStatusIsUnderstood() throws Exception {
        started("copilot");
        client.updateServerSettings(new ServerSettings("", "bad"));
        Check.eventually(() -> client.status().kind() == AgentStatus.Kind.ERROR, "error via didChangeStatus: " + statuses);
        Check.equal("token rejected", client.status().message(), "message");
        shutdownCleanly();
    }

    @Test
    public void signInShowsTheCodeAndHandsTheTokenToTheAgent() throws Exception {
        started("normal");
        CompletableFuture<SignIn.Prompt> shown = new CompletableFuture<>();
        SignIn.Result r = Check.await(client.signIn(shown::complete), "sign-in");
        SignIn.Prompt p = Check.await(shown, "the code shown");
        Check.equal("BCDF-GHJK", p.userCode(), "user code");
        Check.equal("http://127.0.0.1:9/device?user_code=BCDF-GHJK", p.uri(), "the page opened, code filled in");
        Check.isTrue(p.message().contains("BCDF-GHJK") && p.message().contains("10 minutes"), "message: " + p.message());
        Check.equal("srv_signedin", r.token(), "token");
        Check.equal("alice", r.user(), "user");
        Check.isTrue(!r.toString().contains("srv_signedin"), "toString hides the token: " + r);
        JsonObject exec = received("workspace/executeCommand").get(0).getAsJsonObject("params");
        Check.equal(SignIn.COMMAND, exec.get("command").getAsString(), "command");
        // The running agent gets the token as its server token at once.
        awaitReceived("workspace/didChangeConfiguration", 1);
        JsonObject sent = received("workspace/didChangeConfiguration").get(0).getAsJsonObject("params");
        JsonObject server = sent.getAsJsonObject("settings").getAsJsonObject("serval").getAsJsonObject("server");
        Check.equal("srv_signedin", server.get("token").getAsString(), "token sent to the agent");
        Check.equal("http://127.0.0.1:9", server.get("endpoint").getAsString(), "endpoint kept");
        Check.isTrue(logLines.stream().noneMatch(l -> l.contains("srv_signedin")), "the token is not logged: " + logLines);
        shutdownCleanly();
    }

    @Test
    public void signInDenied() throws Exception {
        started("signin-deny");
        try {
            Check.await(client.signIn(p -> {}), "denied sign-in");
            throw new AssertionError("a denied sign-in completed");
        } catch (Exception e) {
            Check.isTrue(String.valueOf(e.getMessage()).contains("denied"), "error names the denial: " + e);
        }
        Check.isTrue(received("workspace/didChangeConfiguration").isEmpty(), "no token sent after a denial");
        shutdownCleanly();
    }

    @Test
    public void signInCancelled() throws Exception {
        started("signin-hold");
        CompletableFuture<SignIn.Prompt> shown = new CompletableFuture<>();
        CompletableFuture<SignIn.Result> pending = client.signIn(shown::complete);
        Check.await(shown, "the code shown");
        pending.cancel(false);
        awaitReceived("$/cancelRequest", 1);
        JsonElement id = received("workspace/executeCommand").get(0).get("id");
        Check.equal(id, received("$/cancelRequest").get(0).getAsJsonObject("params").get("id"), "$/cancelRequest names the sign-in");
        shutdownCleanly();
    }

    @Test
    public void signInPromptAndResultParsing() {
        Check.isTrue(SignIn.Prompt.fromJson(JsonParser.parseString("{\"userCode\":\"X\",\"verificationUri\":\"javascript:alert(1)\"}")) == null, "non-http page refused");
        Check.isTrue(SignIn.Prompt.fromJson(JsonParser.parseString("{\"verificationUri\":\"http://x/device\"}")) == null, "no code");
        Check.equal("https://s/device", SignIn.Prompt.fromJson(JsonParser.parseString("{\"userCode\":\"X\",\"verificationUri\":\"https://s/device\"}")).uri(), "plain page without the complete one");
        Check.isTrue(SignIn.Result.fromJson(JsonParser.parseString("{\"token\":\" \"}")) == null, "blank token");
        Check.isTrue(SignIn.Result.fromJson(JsonParser.parseString("null")) == null, "null answer");
    }

    @Test
    public void acceptanceIsReported() throws Exception {
        started("normal");
        String uri = "file:///tmp/c.ts";
        client.openDocument(uri, "typescript", 1, "let x = ", () -> "let x = ");
        InlineCompletionItem item = Check.await(client.inlineCompletion(uri, new Position(0, 8), TriggerKind.AUTOMATIC), "completion").items().get(0);
        Check.await(client.didShow(item), "didShow");
        Check.await(client.partiallyAccepted(item, 3), "partial");
        Check.await(client.accepted(item), "accepted (executeCommand answered)");
        JsonObject shown = received("textDocument/didShowCompletion").get(0).getAsJsonObject("params");
        Check.equal(item.insertText(), shown.getAsJsonObject("item").get("insertText").getAsString(), "didShow echoes the item");
        JsonObject partial = received("textDocument/didPartiallyAcceptCompletion").get(0).getAsJsonObject("params");
        Check.equal(3, partial.get("acceptedLength").getAsInt(), "acceptedLength");
        Check.equal(item.insertText(), partial.getAsJsonObject("item").get("insertText").getAsString(), "partial echoes the item");
        JsonObject exec = received("workspace/executeCommand").get(0).getAsJsonObject("params");
        Check.equal("serval.accept", exec.get("command").getAsString(), "command");
        Check.equal("[{\"n\":1,\"choiceIndex\":0}]", exec.get("arguments").toString(), "arguments");
        shutdownCleanly();
    }

    @Test
    public void crashedAgentIsRestartedAndDocumentsReopened() throws Exception {
        started("crash-once");
        String uri = "file:///tmp/d.rs";
        StringBuilder text = new StringBuilder("CRASH here\n");
        client.openDocument(uri, "rust", 1, text.toString(), text::toString);
        text.append("more");
        client.changeDocument(uri, 2, List.of(new TextChange(new Range(new Position(1, 0), new Position(1, 0)), "more")));
        long firstPid = Check.await(client.agentPid(), "pid");
        CompletableFuture<InlineCompletionList> doomed = client.inlineCompletion(uri, new Position(0, 2), TriggerKind.AUTOMATIC);
        Check.awaitFailure(doomed, "a request to a crashing agent fails instead of hanging");
        Check.eventually(() -> statuses.stream().anyMatch(s -> s.kind() == AgentStatus.Kind.AGENT_FAILED && s.message().contains("exited with code 3")), "failure status: " + statuses);
        Check.eventually(() -> {
            try {
                return received("initialize").size() == 2;
            } catch (IOException e) {
                return false;
            }
        }, "restarted");
        Check.await(client.whenReady(), "ready after restart");
        awaitReceived("textDocument/didOpen", 2);
        JsonObject reopened = received("textDocument/didOpen").get(1).getAsJsonObject("params").getAsJsonObject("textDocument");
        Check.equal("CRASH here\nmore", reopened.get("text").getAsString(), "reopened with the current text");
        Check.equal(2, reopened.get("version").getAsInt(), "and the current version");
        Check.isTrue(Check.await(client.agentPid(), "pid") != firstPid, "a new process");
        Check.isTrue(logLines.stream().anyMatch(l -> l.contains("fake agent: crashing as asked")), "the agent's stderr reached the log");
        InlineCompletionList list = Check.await(client.inlineCompletion(uri, new Position(1, 4), TriggerKind.AUTOMATIC), "completion after restart");
        Check.equal("text=CRASH here\nmore", list.items().get(0).insertText(), "works after restart");
        shutdownCleanly();
    }

    @Test
    public void garbageFloodRestartsTheAgent() throws Exception {
        started("garbage-once");
        Check.eventually(() -> statuses.stream().anyMatch(s -> s.kind() == AgentStatus.Kind.AGENT_FAILED && s.message().contains("non-LSP output")), "garbage failure: " + statuses);
        Check.eventually(() -> {
            try {
                return received("initialize").size() == 2;
            } catch (IOException e) {
                return false;
            }
        }, "restarted");
        Check.await(client.whenReady(), "ready after restart");
        Check.isTrue(logLines.stream().anyMatch(l -> l.contains("invalid output to stdout") && l.contains("garbage line")), "garbage logged: " + logLines);
        shutdownCleanly();
    }

    @Test
    public void someGarbageIsTolerated() throws Exception {
        started("noisy");
        String uri = "file:///tmp/e.c";
        client.openDocument(uri, "c", 1, "int", () -> "int");
        for (int i = 0; i < 5; i++) {
            InlineCompletionList list = Check.await(client.inlineCompletion(uri, new Position(0, 3), TriggerKind.AUTOMATIC), "completion " + i);
            Check.equal("text=int", list.items().get(0).insertText(), "item");
        }
        Check.isTrue(statuses.stream().noneMatch(s -> s.kind() == AgentStatus.Kind.AGENT_FAILED), "no failure: " + statuses);
        shutdownCleanly();
    }

    @Test
    public void missingAgentIsReportedAndRetried() throws Exception {
        AtomicInteger lookups = new AtomicInteger();
        client = new AgentClient(options("normal").locator(() -> {
            lookups.incrementAndGet();
            return new AgentLocator(dir.resolve("nothing"), null, dir.resolve("empty").toString(), "linux", "amd64").locate();
        }));
        client.addStatusListener(statuses::add);
        Throwable failure = Check.awaitFailure(client.start(), "start without an agent");
        Check.isTrue(failure instanceof AgentClient.AgentUnavailableException, "AgentUnavailableException: " + failure);
        Check.equal(AgentStatus.Kind.AGENT_NOT_FOUND, ((AgentClient.AgentUnavailableException) failure).kind(), "kind");
        Check.contains(client.status().message(), "serval-agent not found", "status message");
        Check.contains(client.status().message(), "retrying in", "says it retries");
        Check.isTrue(logLines.stream().anyMatch(l -> l.contains("serval-agent not found")), "logged");
        Check.equal(InlineCompletionList.EMPTY, Check.await(client.inlineCompletion("file:///x", new Position(0, 0), TriggerKind.INVOKED), "completion"), "empty without an agent");
        Check.await(client.openDocument("file:///x", "text", 1, "", () -> ""), "open without an agent");
        Check.eventually(() -> lookups.get() >= 3, "retried with backoff");
        Check.equal(-1, Check.await(client.shutdown(), "shutdown"), "nothing to stop");
        Check.equal(AgentStatus.Kind.STOPPED, client.status().kind(), "stopped");
    }

    @Test
    public void hungAgentIsKilledAfterTheInitializeTimeout() throws Exception {
        AtomicReference<Long> pid = new AtomicReference<>();
        client = new AgentClient(options("hang").timeouts(1_000, 2_000, 5_000)
                .restartPolicy(new RestartPolicy(60_000, 60_000, 1, 60_000, 120_000)));
        client.addStatusListener(statuses::add);
        CompletableFuture<Void> start = client.start();
        // The pid is read on the control thread right after the launch, not after the fake agent
        // logged initialize: on a loaded machine its JVM may not even have started within the
        // 1 s timeout (then it is killed before reading anything, which is still what is tested).
        pid.set(Check.await(client.agentPid(), "pid"));
        Throwable failure = Check.awaitFailure(start, "start against a hung agent");
        Check.contains(failure.getMessage(), "initialize failed", "reason");
        Check.eventually(() -> !ProcessHandle.of(pid.get()).map(ProcessHandle::isAlive).orElse(false), "hung agent killed");
        Check.equal(-1, Check.await(client.shutdown(), "shutdown"), "no agent left to stop");
    }

    @Test
    public void fullSyncAgentGetsTheWholeText() throws Exception {
        started("fullsync");
        String uri = "file:///tmp/f.txt";
        StringBuilder text = new StringBuilder("abc");
        client.openDocument(uri, "plaintext", 1, text.toString(), text::toString);
        text.append("d");
        client.changeDocument(uri, 2, List.of(new TextChange(new Range(new Position(0, 3), new Position(0, 3)), "d")));
        InlineCompletionList list = Check.await(client.inlineCompletion(uri, new Position(0, 4), TriggerKind.AUTOMATIC), "completion");
        Check.equal("text=abcd", list.items().get(0).insertText(), "agent copy");
        JsonObject change = received("textDocument/didChange").get(0).getAsJsonObject("params").getAsJsonArray("contentChanges").get(0).getAsJsonObject();
        Check.isTrue(!change.has("range"), "full text change");
        shutdownCleanly();
    }

    @Test
    public void callsAfterShutdownFailOrAnswerEmptyWithoutThrowing() throws Exception {
        started("normal");
        shutdownCleanly();
        Check.awaitFailure(client.start(), "start after shutdown");
        Check.awaitFailure(client.inlineCompletion("file:///x", new Position(0, 0), TriggerKind.INVOKED), "completion after shutdown");
        Check.awaitFailure(client.openDocument("file:///x", "text", 1, "", () -> ""), "open after shutdown");
        Check.awaitFailure(client.shutdown(), "second shutdown");
    }

    @Test
    public void restartStartsAFreshAgentAndReopensDocuments() throws Exception {
        started("normal");
        String uri = "file:///tmp/g.py";
        Check.await(client.openDocument(uri, "python", 1, "x = 1", () -> "x = 1"), "open");
        // The old agent must have read the first didOpen before it is stopped:
        // a restart can kill it with the notification still unread in its pipe.
        awaitReceived("textDocument/didOpen", 1);
        long firstPid = Check.await(client.agentPid(), "pid");
        Check.await(client.restart(), "restart");
        Check.isTrue(Check.await(client.agentPid(), "pid") != firstPid, "a new process");
        Check.eventually(() -> !ProcessHandle.of(firstPid).map(ProcessHandle::isAlive).orElse(false), "the old agent is gone");
        awaitReceived("textDocument/didOpen", 2);
        InlineCompletionList list = Check.await(client.inlineCompletion(uri, new Position(0, 5), TriggerKind.INVOKED), "completion");
        Check.equal("text=x = 1", list.items().get(0).insertText(), "the new agent has the document");
        Check.isTrue(statuses.stream().noneMatch(st -> st.kind() == AgentStatus.Kind.AGENT_FAILED), "a restart is not a failure: " + statuses);
        shutdownCleanly();
    }

    @Test
    public void closingADocumentCancelsItsRequestAndForgetsIt() throws Exception {
        started("normal");
        String uri = "file:///tmp/h.py";
        client.openDocument(uri, "python", 1, "SLOW", () -> "SLOW");
        CompletableFuture<InlineCompletionList> pending = client.inlineCompletion(uri, new Position(0, 4), TriggerKind.INVOKED);
        awaitReceived("textDocument/inlineCompletion", 1);
        Check.await(client.closeDocument(uri), "close");
        Check.isTrue(pending.isCancelled(), "the request for the closed document is cancelled");
        awaitReceived("$/cancelRequest", 1);
        awaitReceived("textDocument/didClose", 1);
        Check.await(client.changeDocument(uri, 2, List.of(new TextChange(new Range(new Position(0, 0), new Position(0, 0)), "x"))), "change after close");
        Check.equal(InlineCompletionList.EMPTY, Check.await(client.inlineCompletion(uri, new Position(0, 0), TriggerKind.INVOKED), "completion after close"), "nothing for a closed document");
        Check.equal(0, received("textDocument/didChange").size(), "no didChange for a closed document");
        shutdownCleanly();
    }

    /** The places of the serval/didFocus notifications the agent received, as "uri:line:character". */
    private List<String> focusReports() throws IOException {
        List<String> out = new ArrayList<>();
        for (JsonObject m : received(FocusReports.METHOD)) {
            JsonObject p = m.getAsJsonObject("params");
            JsonObject pos = p.getAsJsonObject("position");
            out.add(p.getAsJsonObject("textDocument").get("uri").getAsString() + ":" + pos.get("line").getAsInt() + ":" + pos.get("character").getAsInt());
        }
        return out;
    }

    @Test
    public void focusIsReportedOnSelectingAnEditorAndOnJumpsNotOnTypingOrSteps() throws Exception {
        started("normal");
        String a = "file:///tmp/focus-a.py", b = "file:///tmp/focus-b.py", closedDoc = "file:///tmp/never-opened.py";
        Check.await(client.openDocument(a, "python", 1, "x = 1\n", () -> "x = 1\n"), "call");
        Check.await(client.openDocument(b, "python", 1, "y = 2\n", () -> "y = 2\n"), "call");
        Check.await(client.editorSelected(a, new Position(10, 2)), "call");
        Check.await(client.caretMoved(a, new Position(11, 0)), "call"); // the next line: a step
        Check.await(client.caretMoved(a, new Position(10, 4)), "call"); // back, same line
        Check.await(client.changeDocument(a, 2, List.of(new TextChange(new Range(new Position(10, 4), new Position(10, 4)), "\n\n\n\n"))), "call");
        Check.await(client.caretMoved(a, new Position(14, 0)), "call"); // moved by the edit: typing
        Check.await(client.caretMoved(a, new Position(90, 7)), "call"); // a jump
        Check.await(client.editorSelected(b, new Position(0, 0)), "call");
        Check.await(client.caretMoved(b, new Position(40, 1)), "call");
        Check.await(client.changeDocument(b, 2, List.of(new TextChange(new Range(new Position(40, 1), new Position(40, 1)), "z"))), "call");
        Check.await(client.editorSelected(closedDoc, new Position(3, 0)), "call"); // not open in the agent: nothing to warm
        // Everything above reached the agent before this close (one control thread, in order).
        Check.await(client.closeDocument(b), "close");
        awaitReceived("textDocument/didClose", 1);
        Check.equal(List.of(a + ":10:2", a + ":90:7", b + ":0:0", b + ":40:1"), focusReports(), "serval/didFocus reports");
        shutdownCleanly();
    }
}
