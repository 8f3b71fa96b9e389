import { strict as assert } from "node:assert";
import { test } from "node:test";
import { RestartPolicy } from "../src/restart";
import { acceptedLength } from "../src/partial";

test("restarts back off and stop after a few crashes a minute", () => {
  const p = new RestartPolicy(4, 60_000, 1_000);
  assert.deepEqual([0, 1, 2, 3].map((i) => p.onCrash(i * 1000)), [1000, 2000, 4000, 8000]);
  assert.equal(p.onCrash(5000), undefined);
  // A minute later the window is clear again.
  assert.equal(p.onCrash(70_000), 1000);
  p.reset();
  assert.equal(p.onCrash(70_001), 1000);
});

test("partial acceptance is a prefix of the shown item inserted at its start", () => {
  const item = { insertText: "fmt.Println(x)\n}", startOffset: 10, replaced: "" };
  assert.equal(acceptedLength(item, { rangeOffset: 10, rangeLength: 0, text: "fmt." }), 4);
  assert.equal(acceptedLength(item, { rangeOffset: 10, rangeLength: 0, text: "fmt.Println(x)\n" }), 15);
  assert.equal(acceptedLength(item, { rangeOffset: 10, rangeLength: 0, text: "fmt.Println(x)\n}" }), 0, "full accept is reported by the command");
  assert.equal(acceptedLength(item, { rangeOffset: 11, rangeLength: 0, text: "fmt." }), 0);
  assert.equal(acceptedLength(item, { rangeOffset: 10, rangeLength: 0, text: "log." }), 0);
  assert.equal(acceptedLength(item, { rangeOffset: 10, rangeLength: 0, text: "" }), 0);
});
