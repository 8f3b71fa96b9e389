package com.servalhq.jetbrains.core;

import java.util.Random;

public class PositionsTest {
    private static int offset(String text, int line, int character) {
        return Positions.offsetAt(new TextLineMap(text), new Position(line, character));
    }

    private static Position position(String text, int offset) {
        return Positions.positionAt(new TextLineMap(text), offset);
    }

    @Test
    public void asciiLines() {
        String text = "abc\ndef\n";
        Check.equal(3, new TextLineMap(text).lineCount(), "a trailing newline starts a third line");
        Check.equal(0, offset(text, 0, 0), "start");
        Check.equal(5, offset(text, 1, 1), "line 1 char 1");
        Check.equal(8, offset(text, 2, 0), "empty last line");
        Check.equal(new Position(1, 1), position(text, 5), "back");
    }

    @Test
    public void surrogatePairsCountTwoUnits() {
        String text = "a😀b\n😀😀x";
        Check.equal(1, offset(text, 0, 1), "before the emoji");
        Check.equal(3, offset(text, 0, 3), "after the emoji (2 UTF-16 units)");
        Check.equal(1, offset(text, 0, 2), "inside the pair backs off to before it");
        Check.equal(9, offset(text, 1, 4), "after two emoji on line 1");
        Check.equal(new Position(1, 4), position(text, 9), "back");
        Check.equal(new Position(0, 1), position(text, 2), "offset inside a pair maps to before it");
    }

    @Test
    public void cjkAndTabsAreSingleUnits() {
        String text = "\t世界 = 1";
        Check.equal(3, offset(text, 0, 3), "tab and two CJK characters");
        Check.equal(new Position(0, 3), position(text, 3), "back");
    }

    @Test
    public void crlfLineBreaks() {
        String text = "ab\r\ncd\r\n";
        TextLineMap map = new TextLineMap(text);
        Check.equal(3, map.lineCount(), "lines");
        Check.equal(4, offset(text, 1, 0), "line 1 starts after CRLF");
        Check.equal(2, offset(text, 0, 99), "past the end of line 0 clamps before the CR");
        Check.equal(new Position(0, 2), position(text, 3), "between CR and LF maps to the line end");
        Check.equal(new Position(1, 1), position(text, 5), "line 1");
        Check.equal(new Position(2, 0), position(text, 8), "after the final CRLF");
    }

    @Test
    public void loneCarriageReturnIsALineBreak() {
        String text = "ab\rcd";
        Check.equal(2, new TextLineMap(text).lineCount(), "lines");
        Check.equal(4, offset(text, 1, 1), "line 1 char 1");
    }

    @Test
    public void outOfRangePositionsClamp() {
        String text = "abc\nde";
        Check.equal(text.length(), offset(text, 7, 0), "line past the end");
        Check.equal(0, offset(text, -1, 5), "negative line");
        Check.equal(6, offset(text, 1, 100), "character past the end");
        Check.equal(new Position(1, 2), position(text, 100), "offset past the end");
        Check.equal(new Position(0, 0), position(text, -3), "negative offset");
        Check.equal(0, offset("", 0, 5), "empty document");
    }

    @Test
    public void rangeOffsetsNeverInvert() {
        TextLineMap map = new TextLineMap("abcdef");
        int[] offsets = Positions.offsetsOf(map, new Range(new Position(0, 4), new Position(0, 4)));
        Check.equal(4, offsets[0], "start");
        Check.equal(4, offsets[1], "end");
    }

    /** Every offset that is not inside a surrogate pair or a CRLF survives a round trip. */
    @Test
    public void roundTripOverRandomText() {
        Random random = new Random(7);
        String[] pieces = {"a", "Z", " ", "\t", "\n", "\r\n", "\r", "😀", "世", "é", "{", "}"};
        for (int round = 0; round < 300; round++) {
            StringBuilder sb = new StringBuilder();
            int n = random.nextInt(40);
            for (int i = 0; i < n; i++) {
                sb.append(pieces[random.nextInt(pieces.length)]);
            }
            String text = sb.toString();
            TextLineMap map = new TextLineMap(text);
            for (int o = 0; o <= text.length(); o++) {
                boolean insidePair = o > 0 && o < text.length() && Character.isHighSurrogate(text.charAt(o - 1)) && Character.isLowSurrogate(text.charAt(o));
                boolean insideCrlf = o > 0 && o < text.length() && text.charAt(o - 1) == '\r' && text.charAt(o) == '\n';
                if (insidePair || insideCrlf) {
                    continue;
                }
                Position p = Positions.positionAt(map, o);
                Check.equal(o, Positions.offsetAt(map, p), "round trip of offset " + o + " in " + text.replace("\n", "\\n").replace("\r", "\\r"));
            }
        }
    }

    /**
     * Edits described the way IDE listeners see them (offset, old fragment, new text, document after)
     * become ranges that, applied to the document before, give the document after.
     */
    @Test
    public void changesFromEditsReplayExactly() {
        Random random = new Random(11);
        String[] pieces = {"a", "bc", " ", "\t", "\n", "\r\n", "😀", "世界", "x\ny", ""};
        for (int round = 0; round < 300; round++) {
            StringBuilder before = new StringBuilder();
            int n = random.nextInt(12);
            for (int i = 0; i < n; i++) {
                before.append(pieces[random.nextInt(pieces.length)]);
            }
            // Edit at a boundary that splits neither a surrogate pair nor a CRLF.
            int start = boundary(before, random.nextInt(before.length() + 1));
            int end = boundary(before, start + random.nextInt(before.length() - start + 1));
            String oldFragment = before.substring(start, end);
            String newText = pieces[random.nextInt(pieces.length)] + pieces[random.nextInt(pieces.length)];
            StringBuilder after = new StringBuilder(before).replace(start, end, newText);
            if (start > 0 && before.charAt(start - 1) == '\r' && (newText + after.substring(start + newText.length())).startsWith("\n")) {
                continue; // the edit would join a CR with a following LF: IDE documents hold no CR at all
            }
            TextChange change = TextChange.fromEdit(new TextLineMap(after), start, oldFragment, newText);
            int[] span = Positions.offsetsOf(new TextLineMap(before), change.range());
            String replayed = new StringBuilder(before).replace(span[0], span[1], change.text()).toString();
            Check.equal(after.toString(), replayed, "replay of replacing [" + start + "," + end + ") of " + before.toString().replace("\n", "\\n").replace("\r", "\\r"));
        }
    }

    private static int boundary(CharSequence s, int offset) {
        if (offset > 0 && offset < s.length()
                && ((Character.isHighSurrogate(s.charAt(offset - 1)) && Character.isLowSurrogate(s.charAt(offset)))
                || (s.charAt(offset - 1) == '\r' && s.charAt(offset) == '\n'))) {
            return offset - 1;
        }
        return offset;
    }
}
