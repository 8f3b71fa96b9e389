package com.servalhq.jetbrains.core;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;

import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * The device sign-in in progress, if any (the agent's {@code serval.signIn} command, see {@link SignIn}):
 * it routes the agent's {@code serval/signIn} notifications to the prompt of the sign-in that asked,
 * and on approval hands the new token on as the server token. Touched only on the control thread.
 */
final class SignInFlow {
    private final ControlThread control;
    private final AgentLog log;
    /** Makes a signed-in token the server token: sends it to the agent and keeps it for restarts. */
    private final Function<String, CompletableFuture<Void>> useToken;
    /** Shows the code of the sign-in in progress; null when none is. */
    private Consumer<SignIn.Prompt> prompt;

    SignInFlow(ControlThread control, AgentLog log, Function<String, CompletableFuture<Void>> useToken) {
        this.control = control;
        this.log = log;
        this.useToken = useToken;
    }

    /**
     * Runs {@code serval.signIn} on {@code session}. {@code result} completes once the token is in
     * use; cancelling it cancels the command ({@code $/cancelRequest}).
     */
    void start(AgentSession session, Consumer<SignIn.Prompt> onPrompt, CompletableFuture<SignIn.Result> result) {
        prompt = onPrompt;
        CompletableFuture<JsonElement> request = session.rpc().request("workspace/executeCommand",
                LspParams.executeCommand(SignIn.COMMAND, new JsonArray()));
        request.whenComplete((answer, error) -> control.execute(() -> {
            if (prompt == onPrompt) {
                prompt = null;
            }
            if (error != null) {
                Futures.complete(result, null, error);
                return;
            }
            SignIn.Result r = SignIn.Result.fromJson(answer);
            if (r == null) {
                result.completeExceptionally(new IllegalStateException("the agent's sign-in answer has no token"));
                return;
            }
            log.info("signed in as " + r.user() + " (token " + r.tokenName() + ")");
            useToken.apply(r.token()).whenComplete((v, e) -> Futures.complete(result, r, e));
        }, result));
        result.whenComplete((r, e) -> {
            if (result.isCancelled()) {
                request.cancel(false); // sends $/cancelRequest
            }
        });
    }

    /** The agent's serval/signIn notification: the code to show, for the sign-in in progress. */
    void prompted(JsonElement params) {
        SignIn.Prompt parsed = SignIn.Prompt.fromJson(params);
        Consumer<SignIn.Prompt> show = prompt;
        if (parsed != null && show != null) {
            show.accept(parsed);
        }
    }
}
