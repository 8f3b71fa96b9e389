package com.servalhq.jetbrains.core;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * One launched serval-agent: the OS process, its stdio wired to a {@link JsonRpcConnection}, and a
 * thread that drains stderr into the log (an undrained stderr pipe fills and blocks the agent). The last
 * stderr lines are kept so a crash can be explained in the status.
 */
public final class AgentProcess {
    private static final int STDERR_TAIL_LINES = 20;

    private final Process process;
    private final JsonRpcConnection connection;
    private final long startedAtMillis;
    private final Deque<String> stderrTail = new ArrayDeque<>();

    private AgentProcess(Process process, JsonRpcConnection connection, long startedAtMillis) {
        this.process = process;
        this.connection = connection;
        this.startedAtMillis = startedAtMillis;
    }

    /**
     * Starts {@code executable args...} with the given extra environment. The connection is created but
     * not started, so the caller can finish wiring before the first message is read.
     */
    public static AgentProcess launch(Path executable, List<String> args, Map<String, String> environment,
                                      Path workingDir, JsonRpcConnection.Handler handler, AgentLog log, long now) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(executable.toString());
        command.addAll(args);
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().putAll(environment);
        if (workingDir != null) {
            builder.directory(workingDir.toFile());
        }
        builder.redirectInput(ProcessBuilder.Redirect.PIPE);
        builder.redirectOutput(ProcessBuilder.Redirect.PIPE);
        builder.redirectError(ProcessBuilder.Redirect.PIPE);
        Process process = builder.start();
        String name = "serval-agent[" + process.pid() + "]";
        JsonRpcConnection connection = new JsonRpcConnection(name, process.getInputStream(), process.getOutputStream(), handler);
        AgentProcess agent = new AgentProcess(process, connection, now);
        JsonRpcConnection.daemon(() -> agent.drainStderr(log), name + "-stderr").start();
        return agent;
    }

    private void drainStderr(AgentLog log) {
        try (BufferedReader err = new BufferedReader(new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = err.readLine()) != null) {
                synchronized (stderrTail) {
                    stderrTail.addLast(line);
                    if (stderrTail.size() > STDERR_TAIL_LINES) {
                        stderrTail.removeFirst();
                    }
                }
                log.agentStderr(line);
            }
        } catch (IOException e) {
            // The process is gone; its exit is reported through onExit.
        }
    }

    public JsonRpcConnection connection() {
        return connection;
    }

    public long pid() {
        return process.pid();
    }

    public long startedAtMillis() {
        return startedAtMillis;
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** Completes with the exit code when the process ends; never blocks the caller. */
    public CompletableFuture<Integer> onExit() {
        return process.onExit().thenApply(Process::exitValue);
    }

    /** The last lines the agent wrote to stderr, oldest first. */
    public List<String> stderrTail() {
        synchronized (stderrTail) {
            return List.copyOf(stderrTail);
        }
    }

    /**
     * Ends the process: a polite terminate, then a forced kill after {@code graceMillis}, also of any
     * children it left. The future completes with the exit code.
     */
    public CompletableFuture<Integer> destroy(long graceMillis) {
        List<ProcessHandle> children = process.descendants().toList();
        process.destroy();
        return process.onExit()
                .completeOnTimeout(null, graceMillis, TimeUnit.MILLISECONDS)
                .thenCompose(p -> {
                    if (p == null) {
                        process.destroyForcibly();
                    }
                    children.forEach(ProcessHandle::destroyForcibly);
                    return process.onExit();
                })
                .thenApply(Process::exitValue);
    }
}
