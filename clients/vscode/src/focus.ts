// Focus reports for the agent's warm-up (serval/didFocus, docs/agent.md): when the
// user opens or switches to an editor, or the cursor jumps to another place and
// rests there, the agent has the server evaluate the prompt of that place before
// the first keystroke. Typing moves the cursor too: those moves are not jumps.

/** The cursor: a document and an LSP position (VS Code's UTF-16 columns are LSP's). */
export interface Place {
  uri: string;
  line: number;
  character: number;
}

/** FocusParams are serval/didFocus's. */
export interface FocusParams {
  textDocument: { uri: string };
  position: { line: number; character: number };
}

export const focusNotification = "serval/didFocus";

/** Timers, injected so that tests run without waiting. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/**
 * FocusReporter decides when to send serval/didFocus:
 * - an editor becoming active is reported once its cursor has rested restMs;
 * - a cursor move is reported once the cursor has rested restMs, when it left
 *   the lines around the last reported place (a jump: a click, go to
 *   definition, search), not when it followed the user's typing (a move within
 *   editGraceMs of an edit of the document) or stepped to a neighbouring line.
 */
export class FocusReporter {
  private last: Place | undefined;
  private lastEdit = new Map<string, number>();
  private pending: unknown;
  private pendingUri = "";

  constructor(
    private readonly send: (p: FocusParams) => void,
    private readonly clock: Clock = systemClock,
    private readonly restMs = 100,
    private readonly editGraceMs = 100,
  ) {}

  /**
   * activated: an editor became the active one, its cursor at p. It is reported
   * after restMs too, so that the language client's didOpen of a document just
   * opened goes first, and flicking through editors reports only the last.
   */
  activated(p: Place): void {
    this.schedule(p);
  }

  /** moved: the cursor of the active editor moved to p. */
  moved(p: Place): void {
    const edited = this.lastEdit.get(p.uri);
    if (edited !== undefined && this.clock.now() - edited <= this.editGraceMs) {
      this.cancel();
      this.last = p; // typing: the place moves along without a report
      return;
    }
    if (this.last && this.last.uri === p.uri && Math.abs(this.last.line - p.line) <= 1) {
      this.cancel();
      this.last = p;
      return;
    }
    this.schedule(p);
  }

  /** edited: the document at uri changed; a report waiting to be sent is dropped. */
  edited(uri: string): void {
    this.lastEdit.set(uri, this.clock.now());
    if (this.pendingUri === uri) {
      this.cancel();
    }
  }

  /** closed: forget the document. */
  closed(uri: string): void {
    this.lastEdit.delete(uri);
    if (this.last?.uri === uri) {
      this.last = undefined;
    }
  }

  dispose(): void {
    this.cancel();
  }

  private schedule(p: Place) {
    this.cancel();
    this.pendingUri = p.uri;
    this.pending = this.clock.setTimeout(() => {
      this.pending = undefined;
      this.pendingUri = "";
      this.report(p);
    }, this.restMs);
  }

  private cancel() {
    if (this.pending !== undefined) {
      this.clock.clearTimeout(this.pending);
      this.pending = undefined;
      this.pendingUri = "";
    }
  }

  private report(p: Place) {
    this.last = p;
    this.send({ textDocument: { uri: p.uri }, position: { line: p.line, character: p.character } });
  }
}
