package com.servalhq.jetbrains.actions

import com.intellij.codeInsight.inline.completion.InlineCompletion
import com.intellij.codeInsight.inline.completion.InlineCompletionEvent
import com.intellij.codeInsight.inline.completion.session.InlineCompletionContext
import com.intellij.codeInsight.inline.completion.session.InlineCompletionSession
import com.intellij.openapi.actionSystem.ActionUpdateThread
import com.intellij.openapi.actionSystem.AnAction
import com.intellij.openapi.actionSystem.AnActionEvent
import com.intellij.openapi.actionSystem.CommonDataKeys
import com.intellij.openapi.actionSystem.IdeActions
import com.intellij.openapi.command.WriteCommandAction
import com.intellij.openapi.editor.Editor
import com.intellij.openapi.editor.actionSystem.EditorActionManager
import com.intellij.openapi.project.DumbAware
import com.intellij.openapi.util.UserDataHolderBase
import com.servalhq.jetbrains.ServalInlineCompletionProvider
import com.servalhq.jetbrains.ServalProjectService
import com.servalhq.jetbrains.core.PartialAcceptance

/** Base for actions on a Serval suggestion shown in the editor. All run on the EDT, where the session lives. */
abstract class ServalEditorAction : AnAction(), DumbAware {
    override fun getActionUpdateThread(): ActionUpdateThread = ActionUpdateThread.EDT

    override fun update(e: AnActionEvent) {
        val editor = e.getData(CommonDataKeys.EDITOR)
        e.presentation.isEnabled = editor != null && isEnabled(editor)
    }

    protected open fun isEnabled(editor: Editor): Boolean = shownSession(editor) != null

    companion object {
        /** The inline completion session when it shows a Serval suggestion at the caret. */
        fun shownSession(editor: Editor): InlineCompletionSession? {
            val session = InlineCompletionSession.getOrNull(editor) ?: return null
            if (session.provider !is ServalInlineCompletionProvider) return null
            val context = session.context
            if (context.isDisposed || context.startOffset() != editor.caretModel.offset) return null
            return session
        }

        /** Asks Serval (only) for suggestions at the caret, as an explicit request. */
        fun requestSuggestions(editor: Editor) {
            InlineCompletion.getHandlerOrNull(editor)?.invokeEvent(
                InlineCompletionEvent.ManualCall(editor, ServalInlineCompletionProvider.PROVIDER_ID, UserDataHolderBase())
            )
        }
    }
}

/** Accepts the whole suggestion, as Tab does; the insert handler reports it to the agent. */
class AcceptAction : ServalEditorAction() {
    override fun actionPerformed(e: AnActionEvent) {
        val editor = e.getData(CommonDataKeys.EDITOR) ?: return
        val handler = InlineCompletion.getHandlerOrNull(editor) ?: return
        WriteCommandAction.runWriteCommandAction(editor.project, "Accept Serval Suggestion", null, { handler.insert() })
    }
}

/**
 * Accepts part of the suggestion: inserts it as if typed, reports didPartiallyAcceptCompletion, and
 * asks again at the new caret; the agent answers that from its typed-ahead cache with the rest.
 */
abstract class PartialAcceptAction : ServalEditorAction() {
    /** How many UTF-16 units of the visible ghost text to take. */
    protected abstract fun lengthOf(ghost: String): Int

    override fun actionPerformed(e: AnActionEvent) {
        val editor = e.getData(CommonDataKeys.EDITOR) ?: return
        val session = shownSession(editor) ?: return
        val context: InlineCompletionContext = session.context
        val ghost = context.textToInsert()
        val offset = context.startOffset() ?: return
        val take = lengthOf(ghost)
        if (take <= 0) {
            return
        }
        val handler = InlineCompletion.getHandlerOrNull(editor) ?: return
        if (take >= ghost.length) {
            WriteCommandAction.runWriteCommandAction(editor.project, "Accept Serval Suggestion", null, { handler.insert() })
            return
        }
        // The active variant's data holds the suggestion; capture() is the public way to reach it.
        val variantData = session.capture()?.activeVariant?.data
        val suggestion = ServalInlineCompletionProvider.find(editor, variantData ?: context, ghost, offset)
        WriteCommandAction.runWriteCommandAction(editor.project, "Accept Part of Serval Suggestion", null, {
            editor.document.insertString(offset, ghost.substring(0, take))
            editor.caretModel.moveToOffset(offset + take)
        })
        val project = editor.project ?: return
        if (suggestion != null) {
            // acceptedLength counts from the start of the item's insert text: what was typed before the
            // request, what was overtyped since, and this part.
            val accepted = suggestion.placement.newText().length - ghost.length + take
            ServalProjectService.getInstance(project).client()?.partiallyAccepted(suggestion.item, accepted)
        }
        requestSuggestions(editor)
    }
}

class AcceptWordAction : PartialAcceptAction() {
    override fun lengthOf(ghost: String): Int = PartialAcceptance.nextWordLength(ghost)
}

class AcceptLineAction : PartialAcceptAction() {
    override fun lengthOf(ghost: String): Int = PartialAcceptance.nextLineLength(ghost)
}

/**
 * Shows the next suggestion. An automatic request brings one item; with a single one on screen this
 * asks again as an explicit request, which returns several to cycle through.
 */
class NextSuggestionAction : ServalEditorAction() {
    override fun isEnabled(editor: Editor): Boolean = true

    override fun actionPerformed(e: AnActionEvent) {
        val editor = e.getData(CommonDataKeys.EDITOR) ?: return
        val session = shownSession(editor)
        val variants = session?.capture()?.variantsNumber ?: 0
        if (session != null && variants > 1) {
            session.useNextVariant()
        } else {
            requestSuggestions(editor)
        }
    }
}

/** Hides the suggestion through the editor's Escape handler, which the platform wraps for inline completion. */
class DismissAction : ServalEditorAction() {
    override fun actionPerformed(e: AnActionEvent) {
        val editor = e.getData(CommonDataKeys.EDITOR) ?: return
        EditorActionManager.getInstance().getActionHandler(IdeActions.ACTION_EDITOR_ESCAPE)
            .execute(editor, editor.caretModel.currentCaret, e.dataContext)
    }
}

/** Asks for suggestions at the caret now (Alt+\). */
class TriggerAction : ServalEditorAction() {
    override fun isEnabled(editor: Editor): Boolean = true

    override fun actionPerformed(e: AnActionEvent) {
        e.getData(CommonDataKeys.EDITOR)?.let(::requestSuggestions)
    }
}

/** Stops serval-agent and starts it again, forgetting past failures. */
class RestartAgentAction : AnAction(), DumbAware {
    override fun getActionUpdateThread(): ActionUpdateThread = ActionUpdateThread.BGT

    override fun update(e: AnActionEvent) {
        e.presentation.isEnabled = e.project != null
    }

    override fun actionPerformed(e: AnActionEvent) {
        e.project?.let { ServalProjectService.getInstance(it).restart() }
    }
}
