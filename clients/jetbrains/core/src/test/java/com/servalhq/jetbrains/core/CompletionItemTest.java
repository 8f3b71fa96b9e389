package com.servalhq.jetbrains.core;

import com.google.gson.JsonParser;

import java.util.Random;

public class CompletionItemTest {
    private static InlineCompletionList parse(String json) {
        return InlineCompletionList.fromJson(JsonParser.parseString(json));
    }

    @Test
    public void parsesAllResultShapes() {
        Check.equal(1, parse("[{\"insertText\":\"a\"}]").items().size(), "array");
        Check.equal(2, parse("{\"items\":[{\"insertText\":\"a\"},{\"insertText\":\"b\"}]}").items().size(), "list object");
        Check.isTrue(parse("null").isEmpty(), "null");
        Check.isTrue(parse("{}").isEmpty(), "object without items");
        Check.isTrue(parse("42").isEmpty(), "number");
        Check.isTrue(InlineCompletionList.fromJson(null).isEmpty(), "missing");
    }

    @Test
    public void parsesItemFields() {
        InlineCompletionItem item = parse("[{\"insertText\":\"foo()\",\"filterText\":\"fo\",\"range\":{\"start\":{\"line\":1,\"character\":2},\"end\":{\"line\":1,\"character\":4}},"
                + "\"command\":{\"title\":\"Accept\",\"command\":\"serval.accept\",\"arguments\":[{\"id\":\"c1\"}]}}]").items().get(0);
        Check.equal("foo()", item.insertText(), "insertText");
        Check.equal("fo", item.filterText(), "filterText");
        Check.equal(new Range(new Position(1, 2), new Position(1, 4)), item.range(), "range");
        Check.equal("serval.accept", item.command().command(), "command");
        Check.equal("c1", item.command().arguments().get(0).getAsJsonObject().get("id").getAsString(), "arguments");
        Check.isTrue(!item.snippet(), "plain text");
        Check.equal("foo()", item.raw().get("insertText").getAsString(), "raw kept for echoing back");
    }

    @Test
    public void parsesSnippetInsertText() {
        InlineCompletionItem item = parse("[{\"insertText\":{\"kind\":\"snippet\",\"value\":\"print(${1:msg})$0\"}}]").items().get(0);
        Check.equal("print(msg)", item.insertText(), "snippet as plain text");
        Check.isTrue(item.snippet(), "snippet flag");
    }

    @Test
    public void dropsUnusableItems() {
        InlineCompletionList list = parse("[{\"insertText\":1},{},\"x\",{\"insertText\":{\"kind\":\"other\"}},"
                + "{\"insertText\":\"bad range\",\"range\":{\"start\":{\"line\":0}}},"
                + "{\"insertText\":\"inverted\",\"range\":{\"start\":{\"line\":2,\"character\":0},\"end\":{\"line\":1,\"character\":0}}},"
                + "{\"insertText\":\"ok\",\"command\":{\"title\":\"no command name\"}}]");
        Check.equal(1, list.items().size(), "only the good item");
        Check.equal("ok", list.items().get(0).insertText(), "good item");
        Check.equal(null, list.items().get(0).command(), "a command without a name is dropped");
    }

    @Test
    public void snippetsToPlainText() {
        Check.equal("a b", Snippets.toPlainText("a $1b"), "tab stop");
        Check.equal("x", Snippets.toPlainText("${1}x${0}"), "braced tab stops");
        Check.equal("f(a, b)", Snippets.toPlainText("f(${1:a}, ${2:b})"), "placeholders");
        Check.equal("f(inner)", Snippets.toPlainText("f(${1:${2:inner}})"), "nested placeholder");
        Check.equal("one", Snippets.toPlainText("${1|one,two|}"), "choice");
        Check.equal("$x}\\", Snippets.toPlainText("\\$x\\}\\\\"), "escapes");
        Check.equal("default", Snippets.toPlainText("${TM_SELECTED_TEXT:default}"), "variable default");
        Check.equal("${1:unterminated", Snippets.toPlainText("${1:unterminated"), "unterminated is literal");
        Check.equal("cost $", Snippets.toPlainText("cost $"), "lone dollar");
        Check.equal("😀", Snippets.toPlainText("${1:😀}"), "emoji");
    }

    @Test
    public void snippetParserNeverThrows() {
        Random random = new Random(3);
        String[] pieces = {"$", "{", "}", "1", ":", "|", ",", "\\", "a", "VAR", "😀"};
        for (int round = 0; round < 2000; round++) {
            StringBuilder sb = new StringBuilder();
            int n = random.nextInt(25);
            for (int i = 0; i < n; i++) {
                sb.append(pieces[random.nextInt(pieces.length)]);
            }
            Snippets.toPlainText(sb.toString());
        }
        Snippets.toPlainText("${1:".repeat(5000)); // deep nesting is bounded, not a stack overflow
    }

    private static InlineCompletionItem item(String insert, Range range) {
        return new InlineCompletionItem(insert, false, insert, range, null, new com.google.gson.JsonObject());
    }

    @Test
    public void placementAtTheCaret() {
        TextLineMap doc = new TextLineMap("def f():\n    ret");
        InlineCompletionItem.Placement p = item("urn 1", null).place(doc, 16);
        Check.equal(16, p.replaceStart(), "start");
        Check.equal(16, p.replaceEnd(), "end");
        Check.equal("urn 1", p.ghostText(), "ghost");
    }

    @Test
    public void placementWithARangeStartingBeforeTheCaret() {
        TextLineMap doc = new TextLineMap("x = pri");
        // The agent rewrites "pri" into "print(x)": range starts at column 4.
        InlineCompletionItem it = item("print(x)", new Range(new Position(0, 4), new Position(0, 7)));
        InlineCompletionItem.Placement p = it.place(doc, 7);
        Check.equal(4, p.replaceStart(), "start");
        Check.equal("nt(x)", p.ghostText(), "ghost is what was not typed yet");
        Check.equal(3, p.typedLength(), "typed part");
        Check.equal(null, item("prune()", new Range(new Position(0, 4), new Position(0, 7))).place(doc, 7), "typed text that does not match is not shown");
    }

    @Test
    public void placementSwallowsClosingBracket() {
        TextLineMap doc = new TextLineMap("f(😀)");
        // Caret after the emoji (UTF-16 column 4); the item replaces the auto-inserted ")".
        InlineCompletionItem it = item(", y)", new Range(new Position(0, 4), new Position(0, 5)));
        InlineCompletionItem.Placement p = it.place(doc, 4);
        Check.equal(4, p.replaceStart(), "start");
        Check.equal(5, p.replaceEnd(), "end covers the bracket");
        Check.equal(", y)", p.ghostText(), "ghost");
    }

    @Test
    public void placementRejectsRangesThatMissTheCaret() {
        TextLineMap doc = new TextLineMap("abc\ndef");
        Check.equal(null, item("x", new Range(new Position(1, 0), new Position(1, 1))).place(doc, 2), "range after the caret");
        Check.equal(null, item("x", new Range(new Position(0, 0), new Position(0, 1))).place(doc, 3), "range before the caret");
    }

    @Test
    public void acceptWordLengths() {
        Check.equal(3, PartialAcceptance.nextWordLength("foo(bar)"), "identifier");
        Check.equal(1, PartialAcceptance.nextWordLength("(bar)"), "punctuation alone");
        Check.equal(7, PartialAcceptance.nextWordLength("  bar_1 = 2"), "leading spaces and identifier");
        Check.equal(2, PartialAcceptance.nextWordLength("  \n  x"), "spaces before a newline");
        Check.equal(1, PartialAcceptance.nextWordLength("\n  x"), "a newline alone");
        Check.equal(2, PartialAcceptance.nextWordLength("\r\nx"), "a CRLF alone");
        Check.equal(2, PartialAcceptance.nextWordLength("世界 x"), "CJK letters form a word");
        Check.equal(2, PartialAcceptance.nextWordLength("😀x"), "an emoji is one unit of two chars");
        Check.equal(0, PartialAcceptance.nextWordLength(""), "empty");
        Check.equal(3, PartialAcceptance.nextWordLength("   "), "only spaces");
    }

    @Test
    public void acceptLineLengths() {
        Check.equal(6, PartialAcceptance.nextLineLength("x = 1;\n  y"), "rest of the line without the break");
        Check.equal(4, PartialAcceptance.nextLineLength("\n  y\nz"), "a leading break takes the next line");
        Check.equal(5, PartialAcceptance.nextLineLength("\r\n  y\r\nz"), "CRLF");
        Check.equal(3, PartialAcceptance.nextLineLength("abc"), "last line");
    }
}
