package com.servalhq.jetbrains.core;

/**
 * Converts between LSP positions (UTF-16 code units, the encoding this client negotiates) and document
 * offsets. Java strings are UTF-16, so a position's character is a {@code char} index within its line;
 * what needs care is clamping: LSP says a character past the line's end means the end, a line past the
 * document's end means the end, and a position must never split a surrogate pair or a CRLF.
 */
public final class Positions {
    private Positions() {
    }

    /** The document offset of {@code p}, clamped into the document and never inside a surrogate pair. */
    public static int offsetAt(LineMap doc, Position p) {
        if (p.line() < 0) {
            return 0;
        }
        if (p.line() >= doc.lineCount()) {
            return doc.text().length();
        }
        int start = doc.lineStart(p.line());
        int end = doc.lineEnd(p.line());
        int offset = start + Math.max(0, Math.min(p.character(), end - start));
        return backOffSurrogate(doc.text(), offset, start);
    }

    /** The LSP position of {@code offset}; an offset inside a line break maps to the end of its line. */
    public static Position positionAt(LineMap doc, int offset) {
        CharSequence text = doc.text();
        int clamped = Math.max(0, Math.min(offset, text.length()));
        int line = doc.lineOf(clamped);
        int start = doc.lineStart(line);
        int end = doc.lineEnd(line);
        int at = backOffSurrogate(text, Math.min(clamped, end), start);
        return new Position(line, at - start);
    }

    /** The offsets of {@code range}, with end never before start. */
    public static int[] offsetsOf(LineMap doc, Range range) {
        int start = offsetAt(doc, range.start());
        int end = Math.max(start, offsetAt(doc, range.end()));
        return new int[] {start, end};
    }

    private static int backOffSurrogate(CharSequence text, int offset, int lineStart) {
        if (offset > lineStart && offset < text.length()
                && Character.isHighSurrogate(text.charAt(offset - 1))
                && Character.isLowSurrogate(text.charAt(offset))) {
            return offset - 1;
        }
        return offset;
    }
}
