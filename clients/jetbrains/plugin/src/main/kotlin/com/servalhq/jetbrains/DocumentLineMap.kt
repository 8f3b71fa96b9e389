package com.servalhq.jetbrains

import com.intellij.openapi.editor.Document
import com.servalhq.jetbrains.core.LineMap

/**
 * Core's [LineMap] over an IntelliJ [Document], using the document's own line index: converting a
 * position is O(log lines) and copies nothing. IntelliJ documents store only `\n` line breaks, and
 * their offsets are UTF-16 units, the encoding the client negotiates with the agent.
 *
 * Read it inside a read action (or on the EDT), like any document.
 */
internal class DocumentLineMap(private val document: Document) : LineMap {
    override fun text(): CharSequence = document.immutableCharSequence

    // getLineNumber(textLength) counts the empty line after a trailing line break, as LSP does.
    override fun lineCount(): Int = document.getLineNumber(document.textLength) + 1

    override fun lineStart(line: Int): Int = document.getLineStartOffset(line)

    override fun lineEnd(line: Int): Int = document.getLineEndOffset(line)

    override fun lineOf(offset: Int): Int = document.getLineNumber(offset)
}
