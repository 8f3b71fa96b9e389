// Detecting a partial acceptance (accept word / accept line) from the document change
// it causes: VS Code's stable API does not tell extensions about it.

export interface ShownItem {
  /** The suggestion text as shown. */
  insertText: string;
  /** Document offset where the suggestion's replace range starts. */
  startOffset: number;
  /** Text the range replaces (auto-inserted closers), usually empty. */
  replaced: string;
}

export interface Change {
  rangeOffset: number;
  rangeLength: number;
  text: string;
}

/**
 * acceptedLength returns how many UTF-16 units of the shown item a change accepted:
 * the change inserts a prefix of insertText at the item's start. It returns 0 for
 * unrelated changes and for a full acceptance (reported by the item's command instead).
 */
export function acceptedLength(item: ShownItem, change: Change): number {
  if (change.text === "" || change.rangeOffset !== item.startOffset) {
    return 0;
  }
  if (change.rangeLength !== 0 && change.rangeLength > item.replaced.length) {
    return 0;
  }
  if (change.text.length >= item.insertText.length || !item.insertText.startsWith(change.text)) {
    return 0;
  }
  return change.text.length;
}
