package com.servalhq.jetbrains.core;

/**
 * Read access to a document's lines, in {@code char} (UTF-16) offsets. The plugin implements it over the
 * IDE's document (which already indexes lines) so converting a position never copies the text;
 * {@link TextLineMap} implements it over a plain {@link CharSequence}.
 */
public interface LineMap {
    /** The document's characters; implementations return a view, not a copy. */
    CharSequence text();

    /** Number of lines; an empty document has one line, and a trailing line break starts another. */
    int lineCount();

    /** Offset of the first character of {@code line} (0 <= line < lineCount). */
    int lineStart(int line);

    /** Offset just past the last character of {@code line}, before its line break. */
    int lineEnd(int line);

    /** The line containing {@code offset} (0 <= offset <= text length). */
    int lineOf(int offset);
}
