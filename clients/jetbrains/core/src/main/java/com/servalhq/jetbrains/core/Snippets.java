package com.servalhq.jetbrains.core;

/**
 * Turns an LSP snippet into the plain text the user sees: tab stops ({@code $1}, {@code ${1}}) vanish,
 * placeholders ({@code ${1:text}}, {@code ${1|a,b|}}) keep their text (the first choice), variables
 * ({@code $TM_FILENAME}, {@code ${VAR:default}}) keep their default, and {@code \$ \} \\} unescape.
 * Malformed snippets degrade to their literal text; the parser never throws.
 */
public final class Snippets {
    /**
     * Set once a placeholder runs to the end of the input unclosed; later placeholders are then read
     * literally, so malformed input costs linear time instead of re-scanning the rest at every level.
     */
    private boolean sawUnterminated;

    private Snippets() {
    }

    public static String toPlainText(String snippet) {
        StringBuilder out = new StringBuilder(snippet.length());
        new Snippets().parse(snippet, 0, out, false, 0);
        return out.toString();
    }

    /** Appends the text from {@code i}; inside a placeholder stops at its closing brace. Returns the index after it, or -1 when a placeholder is unterminated. */
    private int parse(String s, int i, StringBuilder out, boolean nested, int depth) {
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c == '\\' && i + 1 < s.length() && "$}\\,|".indexOf(s.charAt(i + 1)) >= 0) {
                out.append(s.charAt(i + 1));
                i += 2;
            } else if (nested && c == '}') {
                return i + 1;
            } else if (c == '$' && depth < 32) {
                i = dollar(s, i, out, depth);
            } else {
                out.append(c);
                i++;
            }
        }
        return nested ? -1 : i;
    }

    private int dollar(String s, int i, StringBuilder out, int depth) {
        int j = i + 1;
        if (j < s.length() && Character.isDigit(s.charAt(j))) {
            while (j < s.length() && Character.isDigit(s.charAt(j))) {
                j++;
            }
            return j; // $1
        }
        if (j < s.length() && isVarStart(s.charAt(j))) {
            while (j < s.length() && isVarPart(s.charAt(j))) {
                j++;
            }
            return j; // $VAR: unknown variables resolve to empty
        }
        if (j < s.length() && s.charAt(j) == '{') {
            int k = j + 1;
            int nameStart = k;
            while (k < s.length() && (Character.isDigit(s.charAt(k)) || isVarPart(s.charAt(k)))) {
                k++;
            }
            if (k == nameStart || k >= s.length()) {
                out.append('$');
                return i + 1;
            }
            char next = s.charAt(k);
            if (next == '}') {
                return k + 1; // ${1} or ${VAR}
            }
            if (next == ':' && !sawUnterminated) {
                StringBuilder inner = new StringBuilder();
                int end = parse(s, k + 1, inner, true, depth + 1);
                if (end < 0) {
                    sawUnterminated = true;
                    out.append('$');
                    return i + 1; // unterminated: literal
                }
                out.append(inner);
                return end;
            }
            if (next == '|') {
                int close = s.indexOf("|}", k + 1);
                if (close < 0) {
                    out.append('$');
                    return i + 1;
                }
                String choices = s.substring(k + 1, close);
                StringBuilder first = new StringBuilder();
                for (int m = 0; m < choices.length(); m++) {
                    char ch = choices.charAt(m);
                    if (ch == '\\' && m + 1 < choices.length()) {
                        first.append(choices.charAt(++m));
                    } else if (ch == ',') {
                        break;
                    } else {
                        first.append(ch);
                    }
                }
                out.append(first);
                return close + 2;
            }
        }
        out.append('$');
        return i + 1;
    }

    private static boolean isVarStart(char c) {
        return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    }

    private static boolean isVarPart(char c) {
        return isVarStart(c) || (c >= '0' && c <= '9');
    }
}
