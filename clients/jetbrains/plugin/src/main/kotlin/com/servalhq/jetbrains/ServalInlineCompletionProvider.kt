package com.servalhq.jetbrains

import com.intellij.codeInsight.inline.completion.DefaultInlineCompletionInsertHandler
import com.intellij.codeInsight.inline.completion.InlineCompletionEvent
import com.intellij.codeInsight.inline.completion.InlineCompletionInsertEnvironment
import com.intellij.codeInsight.inline.completion.InlineCompletionInsertHandler
import com.intellij.codeInsight.inline.completion.InlineCompletionProvider
import com.intellij.codeInsight.inline.completion.InlineCompletionProviderID
import com.intellij.codeInsight.inline.completion.InlineCompletionRequest
import com.intellij.codeInsight.inline.completion.elements.InlineCompletionElement
import com.intellij.codeInsight.inline.completion.elements.InlineCompletionGrayTextElement
import com.intellij.codeInsight.inline.completion.suggestion.InlineCompletionSuggestion
import com.intellij.codeInsight.inline.completion.suggestion.InlineCompletionVariant
import com.intellij.openapi.application.readAction
import com.intellij.openapi.diagnostic.logger
import com.intellij.openapi.fileEditor.FileDocumentManager
import com.intellij.openapi.editor.Editor
import com.intellij.openapi.util.Key
import com.intellij.openapi.util.UserDataHolder
import com.intellij.openapi.util.UserDataHolderBase
import com.servalhq.jetbrains.core.InlineCompletionItem
import com.servalhq.jetbrains.core.InlineCompletionList
import com.servalhq.jetbrains.core.Positions
import com.servalhq.jetbrains.core.TriggerKind
import com.servalhq.jetbrains.settings.ServalSettings
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.ensureActive
import kotlinx.coroutines.future.await

/**
 * Serval's suggestions on the platform's inline completion API.
 *
 * [getSuggestion] runs in a coroutine off the UI thread: it reads the caret position in a read action,
 * awaits the agent's answer (cancelling the coroutine cancels the request, and core sends
 * `$/cancelRequest`), and turns each item into a gray-text variant. The agent debounces automatic
 * requests itself, so none is added here.
 */
class ServalInlineCompletionProvider : InlineCompletionProvider {
    override val id: InlineCompletionProviderID = PROVIDER_ID

    override val insertHandler: InlineCompletionInsertHandler
        get() = ServalInsertHandler

    /** Runs on the EDT: settings only. */
    override fun isEnabled(event: InlineCompletionEvent): Boolean {
        val settings = ServalSettings.getInstance()
        if (!settings.enabled) {
            return false
        }
        return when (event) {
            is InlineCompletionEvent.DocumentChange -> settings.automatic
            is InlineCompletionEvent.DirectCall, is InlineCompletionEvent.ManualCall -> true
            else -> false
        }
    }

    override suspend fun getSuggestion(request: InlineCompletionRequest): InlineCompletionSuggestion {
        val project = request.editor.project ?: return InlineCompletionSuggestion.Empty
        val service = ServalProjectService.getInstance(project)
        val client = service.client() ?: return InlineCompletionSuggestion.Empty
        val document = request.document
        val caret = request.endOffset
        val trigger = if (request.event is InlineCompletionEvent.DocumentChange) TriggerKind.AUTOMATIC else TriggerKind.INVOKED

        val asked = readAction {
            val file = FileDocumentManager.getInstance().getFile(document) ?: return@readAction null
            val uri = service.ensureOpen(file, document) ?: return@readAction null
            Asked(uri, Positions.positionAt(DocumentLineMap(document), caret), document.modificationStamp)
        } ?: return InlineCompletionSuggestion.Empty

        val list: InlineCompletionList = try {
            client.inlineCompletion(asked.uri, asked.position, trigger).await()
        } catch (e: CancellationException) {
            currentCoroutineContext().ensureActive() // our own cancellation propagates
            return InlineCompletionSuggestion.Empty // superseded inside core by a newer request
        } catch (e: Exception) {
            LOG.debug("inline completion failed", e)
            return InlineCompletionSuggestion.Empty
        }
        if (list.isEmpty) {
            return InlineCompletionSuggestion.Empty
        }

        val suggestions = readAction {
            if (document.modificationStamp != asked.stamp) {
                return@readAction emptyList<ServalSuggestion>() // typed on meanwhile; the newer request will answer
            }
            val lines = DocumentLineMap(document)
            list.items().mapNotNull { item ->
                val placement = item.place(lines, caret) ?: return@mapNotNull null
                if (placement.ghostText().isEmpty()) return@mapNotNull null
                val covered = lines.text().subSequence(caret, placement.replaceEnd()).toString()
                ServalSuggestion(asked.uri, item, placement, caret, covered)
            }
        }
        if (suggestions.isEmpty()) {
            return InlineCompletionSuggestion.Empty
        }
        request.editor.putUserData(LAST_SUGGESTIONS, suggestions)
        val variants = suggestions.map { suggestion ->
            val data = UserDataHolderBase()
            data.putUserData(SUGGESTION, suggestion)
            InlineCompletionVariant.build(data) {
                emit(InlineCompletionGrayTextElement(suggestion.placement.ghostText()))
                client.didShow(suggestion.item)
            }
        }
        return object : InlineCompletionSuggestion {
            override suspend fun getVariants(): List<InlineCompletionVariant> = variants
        }
    }

    private class Asked(val uri: String, val position: com.servalhq.jetbrains.core.Position, val stamp: Long)

    companion object {
        val PROVIDER_ID = InlineCompletionProviderID("com.servalhq.jetbrains.ServalInlineCompletionProvider")

        /** The suggestion behind a variant; the platform copies variant data into the insert environment. */
        val SUGGESTION: Key<ServalSuggestion> = Key.create("serval.suggestion")

        /** The suggestions last shown in an editor, for when variant data does not reach the caller. */
        private val LAST_SUGGESTIONS: Key<List<ServalSuggestion>> = Key.create("serval.lastSuggestions")

        /**
         * The suggestion whose remaining ghost text is [ghost] starting at [ghostStart]: from [data] (the
         * variant's data as the platform hands it on), else matched among the editor's last suggestions
         * (the user may have typed part of the ghost text since, so it is a suffix).
         */
        fun find(editor: Editor, data: UserDataHolder?, ghost: String, ghostStart: Int): ServalSuggestion? {
            val fromData = data?.getUserData(SUGGESTION)
            if (fromData != null) {
                return fromData
            }
            return editor.getUserData(LAST_SUGGESTIONS)?.firstOrNull {
                val full = it.placement.ghostText()
                full.endsWith(ghost) && it.caretOffset + (full.length - ghost.length) == ghostStart
            }
        }

        private val LOG = logger<ServalInlineCompletionProvider>()
    }
}

/**
 * One agent item placed in the document.
 *
 * @property caretOffset where the request was made and the ghost text starts
 * @property coveredText document text after the caret that the item's range replaces (e.g. an
 *   auto-inserted closing bracket); removed on acceptance
 */
class ServalSuggestion(
    val uri: String,
    val item: InlineCompletionItem,
    val placement: InlineCompletionItem.Placement,
    val caretOffset: Int,
    val coveredText: String
)

/**
 * After the platform inserts the ghost text at the caret: removes the text the item's range covered
 * after the caret, then reports the acceptance to the agent (the item's command, via
 * workspace/executeCommand). Runs on the EDT in a write action; the report is asynchronous.
 */
object ServalInsertHandler : DefaultInlineCompletionInsertHandler() {
    override fun afterInsertion(environment: InlineCompletionInsertEnvironment, elements: List<InlineCompletionElement>) {
        super.afterInsertion(environment, elements)
        val range = environment.insertedRange
        val inserted = environment.editor.document.immutableCharSequence.subSequence(range.startOffset, range.endOffset).toString()
        val suggestion = ServalInlineCompletionProvider.find(environment.editor, environment, inserted, range.startOffset) ?: return
        val covered = suggestion.coveredText
        if (covered.isNotEmpty()) {
            val document = environment.editor.document
            val from = environment.insertedRange.endOffset
            val to = from + covered.length
            if (to <= document.textLength && document.immutableCharSequence.subSequence(from, to).toString() == covered) {
                document.deleteString(from, to)
            }
        }
        val project = environment.editor.project ?: return
        ServalProjectService.getInstance(project).client()?.accepted(suggestion.item)
    }
}
