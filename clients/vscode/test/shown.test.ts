import { strict as assert } from "node:assert";
import { test } from "node:test";
import { Cycle, renderable, visible } from "../src/shown";

/** at returns the text without its "|" and the cursor's offset. */
function at(s: string): [string, number] {
  const i = s.indexOf("|");
  return [s.slice(0, i) + s.slice(i + 1), i];
}

test("an insertion at the cursor renders, mid-line too", () => {
  const [text, cur] = at("func add(a, b int) int {\n\treturn |\n}\n");
  assert.ok(renderable(text, cur, { insertText: "a + b", start: cur, end: cur }));
  const [mid, c2] = at("x := foo(|)\n");
  assert.ok(renderable(mid, c2, { insertText: "1, 2", start: c2, end: c2 }));
});

test("after an auto-closed bracket: a range over the closer renders when the item keeps it", () => {
  const [text, cur] = at("func hasPort(|)\n");
  // The completion writes the closer too, and its range covers the auto-inserted one.
  assert.ok(renderable(text, cur, { insertText: "addr string) bool {", start: cur, end: cur + 1 }));
  // A range over the closer whose text drops it: VS Code would delete ")", so it shows nothing.
  assert.equal(renderable(text, cur, { insertText: "addr string", start: cur, end: cur + 1 }), false);
  // Only the closer, which the document already has: nothing left to show.
  assert.equal(renderable(text, cur, { insertText: ")", start: cur, end: cur + 1 }), false);
});

test("an item that does not type along what is before the cursor is not rendered", () => {
  const [text, cur] = at("if u == nil {|}\n");
  // The range starts before the cursor: its text must begin with what is typed there.
  assert.ok(renderable(text, cur, { insertText: "{\n\treturn err\n}", start: cur - 1, end: cur + 1 }));
  assert.equal(renderable(text, cur, { insertText: "(\n\treturn err\n}", start: cur - 1, end: cur + 1 }), false);
  // A range on another line than the cursor's.
  assert.equal(renderable("a\nb\n", 3, { insertText: "xyz", start: 0, end: 1 }), false);
  // A range that does not contain the cursor, or lies outside the text.
  assert.equal(renderable(text, cur, { insertText: "x", start: cur + 1, end: cur + 1 }), false);
  assert.equal(renderable(text, cur, { insertText: "x", start: cur, end: text.length + 1 }), false);
});

test("in the indentation, indentation does not count", () => {
  const [text, cur] = at("func f() {\n  |\n}\n");
  assert.ok(renderable(text, cur, { insertText: "\treturn", start: cur - 2, end: cur }));
});

test("Cycle shows the first item and wraps both ways like VS Code's toolbar", () => {
  const c = new Cycle(["a", "b", "c"]);
  assert.equal(c.current(), "a");
  assert.equal(c.position(), "1/3");
  assert.equal(c.move(1), "b");
  assert.equal(c.position(), "2/3");
  assert.equal(c.move(1), "c");
  assert.equal(c.move(1), "a");
  assert.equal(c.move(-1), "c");
  const none = new Cycle<string>([]);
  assert.equal(none.current(), undefined);
  assert.equal(none.move(1), undefined);
});

test("VS Code keeps but does not draw a range over two lines", () => {
  const [text, cur] = at("f(|\n)\n");
  const c = { insertText: "x\n)", start: cur, end: cur + 2 };
  assert.ok(visible(text, cur, c));
  assert.equal(renderable(text, cur, c), false);
});
