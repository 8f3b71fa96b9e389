package com.servalhq.jetbrains.core;

/**
 * How much of a ghost text "accept word" and "accept line" take, in UTF-16 units (what
 * textDocument/didPartiallyAcceptCompletion reports as acceptedLength, counted from the start of the
 * item's insert text by the caller).
 */
public final class PartialAcceptance {
    private PartialAcceptance() {
    }

    /**
     * The next word of {@code ghost}: leading whitespace, then either a run of identifier characters or
     * a single other character (so {@code foo(bar)} accepts {@code foo}, then {@code (}). Never splits a
     * surrogate pair.
     */
    public static int nextWordLength(String ghost) {
        int i = 0;
        int n = ghost.length();
        while (i < n && (ghost.charAt(i) == ' ' || ghost.charAt(i) == '\t')) {
            i++;
        }
        if (i < n && (ghost.charAt(i) == '\n' || ghost.charAt(i) == '\r')) {
            return i > 0 ? i : lineBreakLength(ghost, i);
        }
        if (i >= n) {
            return n;
        }
        int cp = ghost.codePointAt(i);
        if (Character.isLetterOrDigit(cp) || cp == '_') {
            while (i < n) {
                cp = ghost.codePointAt(i);
                if (!(Character.isLetterOrDigit(cp) || cp == '_')) {
                    break;
                }
                i += Character.charCount(cp);
            }
            return i;
        }
        return i + Character.charCount(cp);
    }

    /**
     * The rest of the current line of {@code ghost}, without its line break (the caret stays at the end of
     * the accepted line); a ghost that starts with a line break takes that break and the next line, so
     * the user never accepts "nothing visible".
     */
    public static int nextLineLength(String ghost) {
        int n = ghost.length();
        int i = 0;
        if (i < n && (ghost.charAt(i) == '\n' || ghost.charAt(i) == '\r')) {
            i += lineBreakLength(ghost, i);
        }
        while (i < n && ghost.charAt(i) != '\n' && ghost.charAt(i) != '\r') {
            i++;
        }
        return i;
    }

    private static int lineBreakLength(String s, int i) {
        return s.charAt(i) == '\r' && i + 1 < s.length() && s.charAt(i + 1) == '\n' ? 2 : 1;
    }
}
