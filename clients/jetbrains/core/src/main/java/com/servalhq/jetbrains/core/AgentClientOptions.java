package com.servalhq.jetbrains.core;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * How an {@link AgentClient} finds, starts and talks to the agent: a builder whose defaults are what
 * the plugin uses, so the plugin sets only the IDE's own values and tests set timeouts and fakes.
 * The client takes the log and the first server settings when it is built and reads the rest where
 * it uses them (the locator, for one, at every start).
 */
public final class AgentClientOptions {
    Supplier<AgentLocator.Result> locator = () -> new AgentLocator(null, null, System.getenv("PATH"),
            AgentLocator.currentOs(), AgentLocator.currentArch()).locate();
    List<String> agentArgs = List.of("--stdio");
    Map<String, String> environment = Map.of();
    Path workingDir;
    String rootUri;
    String clientName = "Serval for JetBrains";
    String clientVersion = "dev";
    ServerSettings server = ServerSettings.NONE;
    RestartPolicy restartPolicy = RestartPolicy.standard();
    AgentLog log = AgentLog.stderr();
    LongSupplier clock = System::currentTimeMillis;
    long initializeTimeoutMillis = 20_000;
    long shutdownTimeoutMillis = 3_000;
    long completionTimeoutMillis = 15_000;
    int garbageLimit = 100;
    long focusRestMillis = 100;

    /** Evaluated at every start, so changed settings apply on the next (re)start. */
    public AgentClientOptions locator(Supplier<AgentLocator.Result> locator) {
        this.locator = Objects.requireNonNull(locator);
        return this;
    }

    public AgentClientOptions agentArgs(List<String> args) {
        this.agentArgs = List.copyOf(args);
        return this;
    }

    public AgentClientOptions environment(Map<String, String> env) {
        this.environment = Map.copyOf(env);
        return this;
    }

    public AgentClientOptions workspace(Path workingDir, String rootUri) {
        this.workingDir = workingDir;
        this.rootUri = rootUri;
        return this;
    }

    public AgentClientOptions clientInfo(String name, String version) {
        this.clientName = name;
        this.clientVersion = version;
        return this;
    }

    public AgentClientOptions server(ServerSettings server) {
        this.server = Objects.requireNonNull(server);
        return this;
    }

    public AgentClientOptions restartPolicy(RestartPolicy policy) {
        this.restartPolicy = Objects.requireNonNull(policy);
        return this;
    }

    public AgentClientOptions log(AgentLog log) {
        this.log = Objects.requireNonNull(log);
        return this;
    }

    public AgentClientOptions clock(LongSupplier clock) {
        this.clock = Objects.requireNonNull(clock);
        return this;
    }

    public AgentClientOptions timeouts(long initializeMillis, long shutdownMillis, long completionMillis) {
        this.initializeTimeoutMillis = initializeMillis;
        this.shutdownTimeoutMillis = shutdownMillis;
        this.completionTimeoutMillis = completionMillis;
        return this;
    }

    /** How many invalid messages one session may write to stdout before it is restarted. */
    public AgentClientOptions garbageLimit(int limit) {
        this.garbageLimit = limit;
        return this;
    }

    /** How long the caret must rest before the agent is told where the user looks (serval/didFocus). */
    public AgentClientOptions focusRest(long millis) {
        this.focusRestMillis = millis;
        return this;
    }
}
