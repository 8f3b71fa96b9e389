// Which suggestion VS Code actually shows. The stable API tells an extension
// neither which items VS Code rendered nor which one the user cycled to
// (handleDidShowCompletionItem is a proposed API), so usage figures counted
// every first item as shown, rendered or not. This module predicts it the way
// VS Code decides it: VS Code keeps the items whose edit, once the text they
// share with the document is removed, starts on the cursor's line, types
// along what is before the cursor and keeps what is after it (the document's
// text after the cursor in the range is a subsequence of the item's), then
// shows the first of those and cycles through them in order.

/** A suggestion as offsets in the document. */
export interface Candidate {
  insertText: string;
  /** Document offsets of the range the item replaces (start ≤ cursor ≤ end). */
  start: number;
  end: number;
}

/** VS Code computes no ghost text for longer texts (its diff gives up). */
const maxDiffLength = 5000;

/**
 * visible reports whether VS Code keeps the item at the cursor at offset
 * cursor in text (VS Code's InlineCompletionItem.isVisible): the items its
 * toolbar counts and Alt+] cycles through.
 */
export function visible(text: string, cursor: number, c: Candidate): boolean {
  const e = minimize(text, cursor, c);
  if (!e) return false;
  const at = Math.max(0, cursor - e.start);
  let filterBefore = e.text.slice(0, at);
  let filterAfter = e.text.slice(at);
  let originalBefore = e.original.slice(0, at);
  let originalAfter = e.original.slice(at);
  const lineStart = text.lastIndexOf("\n", e.start - 1) + 1;
  const indentEnd = lineStart + (/^[ \t]*/.exec(text.slice(lineStart))?.[0].length ?? 0);
  if (e.start <= indentEnd) {
    // In the indentation, indentation does not count.
    originalBefore = originalBefore.trimStart();
    if (originalBefore === "") originalAfter = originalAfter.trimStart();
    filterBefore = filterBefore.trimStart();
    if (filterBefore === "") filterAfter = filterAfter.trimStart();
  }
  return filterBefore.startsWith(originalBefore) && isSubsequence(originalAfter.toLowerCase(), filterAfter.toLowerCase());
}

/**
 * renderable reports whether VS Code draws the item as ghost text: it is
 * visible, and VS Code can show it as insertions at or after the cursor on
 * one line (its computeGhostText): the replaced text neither spans lines nor
 * loses a character, and neither text is too long to compare.
 */
export function renderable(text: string, cursor: number, c: Candidate): boolean {
  if (!visible(text, cursor, c)) return false;
  const e = minimize(text, cursor, c);
  if (!e) return false;
  let { original, text: inserted } = e;
  const lineStart = text.lastIndexOf("\n", e.start - 1) + 1;
  const indentEnd = lineStart + (/^[ \t]*/.exec(text.slice(lineStart))?.[0].length ?? 0);
  if (e.start <= indentEnd) {
    // An edit in the indentation keeps the line's indentation as it is.
    const indent = text.slice(e.start, indentEnd);
    original = original.slice(Math.min(indent.length, original.length));
    inserted = inserted.startsWith(indent) ? inserted.slice(indent.length) : inserted.replace(/^[ \t]*/, "");
  }
  if (original.includes("\n") || original.length > maxDiffLength || inserted.length > maxDiffLength) return false;
  return isSubsequence(original, inserted);
}

/** minimize removes what the item and the document share at its start; undefined for an item VS Code drops outright. */
function minimize(text: string, cursor: number, c: Candidate): { start: number; original: string; text: string } | undefined {
  if (c.start < 0 || c.end < c.start || c.end > text.length || cursor < c.start || cursor > c.end) {
    return undefined;
  }
  const original = text.slice(c.start, c.end);
  const common = commonPrefixLength(original, c.insertText);
  const e = { start: c.start + common, original: original.slice(common), text: c.insertText.slice(common) };
  if (e.original === "" && e.text === "") {
    return undefined; // nothing left to show
  }
  // The edit must start on the cursor's line.
  if (text.slice(Math.min(e.start, cursor), Math.max(e.start, cursor)).includes("\n")) {
    return undefined;
  }
  return e;
}

function commonPrefixLength(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/** isSubsequence reports whether every character of word appears in target, in order. */
function isSubsequence(word: string, target: string): boolean {
  let j = 0;
  for (let i = 0; i < word.length; i++) {
    j = target.indexOf(word[i], j);
    if (j < 0) return false;
    j++;
  }
  return true;
}

/**
 * Cycle is the suggestions VS Code shows at one place and the one it shows
 * now: the first, then the next or previous one as the user cycles.
 */
export class Cycle<T> {
  private index = 0;

  constructor(readonly items: readonly T[]) {}

  /** current is the item on screen, or undefined when none renders. */
  current(): T | undefined {
    return this.items[this.index];
  }

  /** move goes one item forward (+1) or back (-1), wrapping as VS Code does, and returns the new current item. */
  move(step: 1 | -1): T | undefined {
    if (this.items.length === 0) return undefined;
    this.index = (this.index + step + this.items.length) % this.items.length;
    return this.current();
  }

  /** position is "i/n" as VS Code's toolbar shows it. */
  position(): string {
    return this.items.length ? `${this.index + 1}/${this.items.length}` : "0/0";
  }
}
