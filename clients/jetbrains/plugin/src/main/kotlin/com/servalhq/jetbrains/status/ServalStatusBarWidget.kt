package com.servalhq.jetbrains.status

import com.intellij.openapi.application.ApplicationManager
import com.intellij.openapi.options.ShowSettingsUtil
import com.intellij.openapi.project.Project
import com.intellij.openapi.wm.StatusBar
import com.intellij.openapi.wm.StatusBarWidget
import com.intellij.openapi.wm.StatusBarWidgetFactory
import com.intellij.util.Consumer
import com.servalhq.jetbrains.ServalProjectService
import com.servalhq.jetbrains.core.AgentStatus
import com.servalhq.jetbrains.settings.ServalConfigurable
import java.awt.Component
import java.awt.event.MouseEvent

class ServalStatusBarWidgetFactory : StatusBarWidgetFactory {
    override fun getId(): String = ID

    override fun getDisplayName(): String = "Serval"

    override fun isAvailable(project: Project): Boolean = true

    override fun createWidget(project: Project): StatusBarWidget = ServalStatusBarWidget(project)

    override fun canBeEnabledOn(statusBar: StatusBar): Boolean = true

    companion object {
        const val ID = "com.servalhq.serval.status"
    }
}

/**
 * "Serval: ready" and friends in the status bar, fed by the agent's serval/status notifications and by
 * core's view of the agent process; the tooltip carries the message (e.g. how to set the token), a
 * click opens the settings.
 */
class ServalStatusBarWidget(private val project: Project) : StatusBarWidget, StatusBarWidget.TextPresentation {
    private var statusBar: StatusBar? = null

    // Called on core's control thread; repaint on the EDT.
    private val listener: (AgentStatus) -> Unit = {
        ApplicationManager.getApplication().invokeLater({ statusBar?.updateWidget(ID()) }, project.disposed)
    }

    override fun ID(): String = ServalStatusBarWidgetFactory.ID

    override fun getPresentation(): StatusBarWidget.WidgetPresentation = this

    override fun install(statusBar: StatusBar) {
        this.statusBar = statusBar
        ServalProjectService.getInstance(project).addStatusListener(listener)
    }

    override fun dispose() {
        if (!project.isDisposed) {
            ServalProjectService.getInstance(project).removeStatusListener(listener)
        }
        statusBar = null
    }

    private fun status(): AgentStatus = ServalProjectService.getInstance(project).status

    override fun getText(): String = "Serval: " + label(status().kind())

    override fun getAlignment(): Float = Component.CENTER_ALIGNMENT

    override fun getTooltipText(): String {
        val status = status()
        return status.message().ifEmpty { "Serval: " + label(status.kind()) } + " (click for settings)"
    }

    override fun getClickConsumer(): Consumer<MouseEvent> = Consumer {
        ShowSettingsUtil.getInstance().showSettingsDialog(project, ServalConfigurable::class.java)
    }

    companion object {
        fun label(kind: AgentStatus.Kind): String = when (kind) {
            AgentStatus.Kind.STARTING -> "starting"
            AgentStatus.Kind.READY -> "ready"
            AgentStatus.Kind.FETCHING -> "thinking…"
            AgentStatus.Kind.DISCONNECTED -> "server unreachable"
            AgentStatus.Kind.UNAUTHORIZED -> "token rejected"
            AgentStatus.Kind.RATE_LIMITED -> "rate limited"
            AgentStatus.Kind.SLOW -> "slow"
            AgentStatus.Kind.NO_MODEL -> "no model"
            AgentStatus.Kind.WARNING -> "warning"
            AgentStatus.Kind.ERROR -> "error"
            AgentStatus.Kind.INACTIVE -> "inactive"
            AgentStatus.Kind.AGENT_NOT_FOUND -> "agent not found"
            AgentStatus.Kind.AGENT_FAILED -> "agent failed"
            AgentStatus.Kind.STOPPED -> "stopped"
        }
    }
}
