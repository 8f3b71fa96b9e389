package com.servalhq.jetbrains.core;

import java.util.Arrays;

/**
 * A {@link LineMap} over a {@link CharSequence}, recognising LSP's line breaks: {@code \n}, {@code \r\n}
 * and a lone {@code \r}. Indexing is one pass; the text is referenced, not copied.
 */
public final class TextLineMap implements LineMap {
    private final CharSequence text;
    /** lineStarts[i] is where line i begins; lineEnds[i] where its content ends (before the break). */
    private final int[] lineStarts;
    private final int[] lineEnds;
    private final int lines;

    public TextLineMap(CharSequence text) {
        this.text = text;
        int[] starts = new int[16];
        int[] ends = new int[16];
        int n = 0;
        int start = 0;
        int len = text.length();
        for (int i = 0; i < len; i++) {
            char c = text.charAt(i);
            if (c == '\n' || c == '\r') {
                if (n + 1 >= starts.length) {
                    starts = Arrays.copyOf(starts, starts.length * 2);
                    ends = Arrays.copyOf(ends, ends.length * 2);
                }
                starts[n] = start;
                ends[n] = i;
                n++;
                if (c == '\r' && i + 1 < len && text.charAt(i + 1) == '\n') {
                    i++;
                }
                start = i + 1;
            }
        }
        if (n + 1 > starts.length) {
            starts = Arrays.copyOf(starts, n + 1);
            ends = Arrays.copyOf(ends, n + 1);
        }
        starts[n] = start;
        ends[n] = len;
        this.lines = n + 1;
        this.lineStarts = starts;
        this.lineEnds = ends;
    }

    @Override
    public CharSequence text() {
        return text;
    }

    @Override
    public int lineCount() {
        return lines;
    }

    @Override
    public int lineStart(int line) {
        return lineStarts[line];
    }

    @Override
    public int lineEnd(int line) {
        return lineEnds[line];
    }

    @Override
    public int lineOf(int offset) {
        int i = Arrays.binarySearch(lineStarts, 0, lines, offset);
        return i >= 0 ? i : -i - 2;
    }
}
