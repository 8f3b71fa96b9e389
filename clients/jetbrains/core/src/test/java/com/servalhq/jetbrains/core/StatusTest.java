package com.servalhq.jetbrains.core;

import com.google.gson.JsonParser;

public class StatusTest {
    private static AgentStatus serval(String json) {
        return AgentStatus.fromServalStatus(JsonParser.parseString(json));
    }

    private static AgentStatus copilot(String json) {
        return AgentStatus.fromDidChangeStatus(JsonParser.parseString(json));
    }

    @Test
    public void servalStatusKinds() {
        String[][] cases = {
            {"ready", "READY"}, {"disconnected", "DISCONNECTED"}, {"unauthorized", "UNAUTHORIZED"},
            {"rateLimited", "RATE_LIMITED"}, {"slow", "SLOW"}, {"noModel", "NO_MODEL"}, {"fetching", "FETCHING"},
            {"starting", "STARTING"}, {"RateLimited", "RATE_LIMITED"}, {"rate_limited", "RATE_LIMITED"},
        };
        for (String[] c : cases) {
            Check.equal(AgentStatus.Kind.valueOf(c[1]), serval("{\"kind\":\"" + c[0] + "\"}").kind(), c[0] + " as kind");
            Check.equal(AgentStatus.Kind.valueOf(c[1]), serval("{\"status\":\"" + c[0] + "\"}").kind(), c[0] + " as status");
        }
    }

    @Test
    public void servalStatusKeepsTheMessage() {
        AgentStatus s = serval("{\"kind\":\"unauthorized\",\"message\":\"set the token with serval token create\"}");
        Check.equal("set the token with serval token create", s.message(), "message");
        Check.isTrue(s.kind().isProblem(), "unauthorized is a problem");
        Check.isTrue(!serval("{\"kind\":\"ready\"}").kind().isProblem(), "ready is not");
    }

    @Test
    public void unknownOrMalformedServalStatus() {
        AgentStatus unknown = serval("{\"kind\":\"warmingUp\",\"message\":\"loading\"}");
        Check.equal(AgentStatus.Kind.WARNING, unknown.kind(), "unknown kind is kept as a warning");
        Check.equal("warmingUp: loading", unknown.message(), "with its name");
        Check.equal(null, serval("{}"), "no kind");
        Check.equal(null, serval("[1]"), "not an object");
        Check.equal(null, serval("{\"kind\":5}"), "kind of the wrong type");
    }

    @Test
    public void copilotStyleStatus() {
        Check.equal(AgentStatus.Kind.READY, copilot("{\"kind\":\"Normal\"}").kind(), "Normal");
        Check.equal(AgentStatus.Kind.ERROR, copilot("{\"kind\":\"Error\",\"message\":\"server down\"}").kind(), "Error");
        Check.equal("server down", copilot("{\"kind\":\"Error\",\"message\":\"server down\"}").message(), "message");
        Check.equal(AgentStatus.Kind.WARNING, copilot("{\"kind\":\"Warning\"}").kind(), "Warning");
        Check.equal(AgentStatus.Kind.INACTIVE, copilot("{\"kind\":\"Inactive\"}").kind(), "Inactive");
        Check.equal(null, copilot("{\"kind\":\"Sideways\"}"), "unknown");
    }
}
