import { strict as assert } from "node:assert";
import { test } from "node:test";
import { Clock, FocusParams, FocusReporter } from "../src/focus";

/** fakeClock runs timers when the test advances time. */
function fakeClock() {
  let now = 0;
  let next = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const clock: Clock = {
    now: () => now,
    setTimeout: (fn, ms) => {
      timers.set(++next, { at: now + ms, fn });
      return next;
    },
    clearTimeout: (h) => void timers.delete(h as number),
  };
  const advance = (ms: number) => {
    now += ms;
    for (const [h, t] of [...timers].sort((a, b) => a[1].at - b[1].at)) {
      if (t.at <= now && timers.delete(h)) t.fn();
    }
  };
  return { clock, advance };
}

function reporter() {
  const sent: FocusParams[] = [];
  const { clock, advance } = fakeClock();
  const r = new FocusReporter((p) => sent.push(p), clock, 100, 100);
  const at = (uri: string, line: number, character = 0) => ({ uri, line, character });
  const where = () => sent.map((p) => `${p.textDocument.uri}:${p.position.line}:${p.position.character}`);
  return { r, advance, at, where };
}

test("an editor becoming active is reported once its cursor rests", () => {
  const { r, advance, at, where } = reporter();
  r.activated(at("file:///a.go", 40, 3));
  advance(50);
  assert.deepEqual(where(), [], "not before the rest");
  advance(50);
  assert.deepEqual(where(), ["file:///a.go:40:3"]);
  // Flicking through editors reports only the last one.
  r.activated(at("file:///b.go", 1));
  advance(30);
  r.activated(at("file:///c.go", 2));
  advance(100);
  assert.deepEqual(where(), ["file:///a.go:40:3", "file:///c.go:2:0"]);
});

test("a jump that rests is reported; stepping to the next line and typing are not", () => {
  const { r, advance, at, where } = reporter();
  r.activated(at("file:///a.go", 10));
  advance(100);
  r.moved(at("file:///a.go", 11)); // arrow down
  r.moved(at("file:///a.go", 12));
  advance(500);
  assert.deepEqual(where(), ["file:///a.go:10:0"]);
  r.moved(at("file:///a.go", 500, 4)); // a click far away
  advance(100);
  assert.deepEqual(where(), ["file:///a.go:10:0", "file:///a.go:500:4"]);
  // Pasting many lines moves the cursor far, just after an edit: typing, not a jump.
  advance(1000);
  r.edited("file:///a.go");
  r.moved(at("file:///a.go", 540));
  advance(500);
  assert.equal(where().length, 2);
});

test("a jump that does not rest, or is followed by an edit, is not reported", () => {
  const { r, advance, at, where } = reporter();
  r.moved(at("file:///a.go", 100));
  advance(50);
  r.moved(at("file:///a.go", 200)); // paging on: only where it stops counts
  advance(50);
  r.moved(at("file:///a.go", 300));
  advance(100);
  assert.deepEqual(where(), ["file:///a.go:300:0"]);
  advance(1000);
  r.moved(at("file:///a.go", 900));
  advance(50);
  r.edited("file:///a.go"); // the user types at once: the completion is coming
  advance(500);
  assert.deepEqual(where(), ["file:///a.go:300:0"]);
  // An edit of another document does not drop it.
  r.moved(at("file:///a.go", 20));
  r.edited("file:///b.go");
  advance(100);
  assert.deepEqual(where(), ["file:///a.go:300:0", "file:///a.go:20:0"]);
  r.dispose();
});
