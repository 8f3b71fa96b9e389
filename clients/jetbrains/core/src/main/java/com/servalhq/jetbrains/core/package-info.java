/**
 * Package core is the IDE-independent half of Serval's JetBrains plugin: it finds and launches
 * {@code serval-agent}, speaks LSP over its stdio (framing in {@link MessageReader}/{@link MessageWriter},
 * JSON-RPC in {@link JsonRpcConnection}), and exposes the agent to the IDE layer as one asynchronous
 * facade, {@link AgentClient}.
 *
 * <p>Nothing here depends on the IntelliJ Platform, so it is compiled and tested with plain {@code javac}
 * against gson. Every public call of {@link AgentClient} returns a {@link java.util.concurrent.CompletableFuture}
 * and never throws: failures of the agent (missing, crashing, writing garbage to stdout) become a
 * log entry, an {@link AgentStatus} and a restart with backoff ({@link RestartPolicy}).
 *
 * <p>Behind the facade, as gopls splits its server: {@link AgentClientOptions} (how to find and start
 * the agent), {@link SessionSupervisor} (its lifecycle: launch, initialize, failure, restart, shutdown),
 * {@link DocumentSync} (the open documents and the agent's copy of them), {@link InlineCompletions}
 * (requests in flight), {@link SignInFlow} (device sign-in), {@link IncomingMessages} (what the agent
 * sends on its own) and {@link LspParams} (the params of what the client sends), all confined to one
 * {@link ControlThread}.
 *
 * <p>Positions are LSP positions in UTF-16 code units, which are Java {@code char} indices; {@link Positions}
 * converts them to document offsets over a {@link LineMap}, which the plugin implements on the IDE's
 * document without copying its text.
 */
package com.servalhq.jetbrains.core;
