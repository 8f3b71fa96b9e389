package com.servalhq.jetbrains.core;

public class RestartPolicyTest {
    @Test
    public void backoffDoublesUpToTheCap() {
        RestartPolicy p = new RestartPolicy(1_000, 8_000, 100, 60_000, 120_000);
        long now = 0;
        long[] expected = {1_000, 2_000, 4_000, 8_000, 8_000};
        for (long e : expected) {
            p.recordStart(now);
            long delay = p.onFailure(now + 10, 10);
            Check.equal(e, delay, "delay after failure " + p.consecutiveFailures());
            now += delay + 10;
        }
    }

    @Test
    public void atMostNStartsPerWindow() {
        RestartPolicy p = new RestartPolicy(0, 0, 3, 60_000, 120_000);
        p.recordStart(0);
        Check.equal(0L, p.onFailure(1, 1), "second start allowed at once");
        p.recordStart(1);
        Check.equal(0L, p.onFailure(2, 1), "third start allowed at once");
        p.recordStart(2);
        Check.equal(59_997L, p.onFailure(3, 1), "fourth start waits until the first leaves the window");
        p.recordStart(60_000);
        Check.equal(1L, p.onFailure(60_000, 0), "the window slides");
    }

    @Test
    public void standardPolicyLimitsAnAgentThatDiesAtOnce() {
        RestartPolicy p = RestartPolicy.standard();
        long now = 0;
        int starts = 0;
        // Simulate ten minutes of an agent that crashes immediately on every start.
        while (now < 600_000) {
            p.recordStart(now);
            starts++;
            now += p.onFailure(now, 0);
        }
        Check.isTrue(starts <= 30, "at most 3 starts a minute, got " + starts + " in 10 minutes");
        Check.isTrue(starts >= 10, "but it keeps trying, got " + starts);
    }

    @Test
    public void aStableRunResetsTheBackoff() {
        RestartPolicy p = new RestartPolicy(1_000, 60_000, 100, 60_000, 120_000);
        p.recordStart(0);
        p.onFailure(0, 0);
        p.recordStart(1_000);
        Check.equal(2_000L, p.onFailure(1_000, 0), "second quick failure backs off more");
        p.recordStart(3_000);
        Check.equal(1_000L, p.onFailure(500_000, 497_000), "after a long run the backoff starts over");
    }

    @Test
    public void resetForgetsEverything() {
        RestartPolicy p = new RestartPolicy(1_000, 60_000, 1, 60_000, 120_000);
        p.recordStart(0);
        p.onFailure(0, 0);
        p.reset();
        Check.equal(0, p.consecutiveFailures(), "failures");
        Check.equal(0L, p.delayForWindow(1), "window");
    }

    @Test
    public void rejectsNonsense() {
        try {
            new RestartPolicy(10, 5, 1, 1, 1);
            throw new AssertionError("max below initial accepted");
        } catch (IllegalArgumentException expected) {
            // ok
        }
    }
}
