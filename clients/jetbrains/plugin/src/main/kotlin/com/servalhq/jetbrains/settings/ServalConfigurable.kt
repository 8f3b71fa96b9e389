package com.servalhq.jetbrains.settings

import com.intellij.openapi.application.ApplicationManager
import com.intellij.openapi.options.BoundConfigurable
import com.intellij.openapi.project.ProjectManager
import com.intellij.openapi.ui.DialogPanel
import com.intellij.ui.dsl.builder.COLUMNS_LARGE
import com.intellij.ui.dsl.builder.bindSelected
import com.intellij.ui.dsl.builder.bindText
import com.intellij.ui.dsl.builder.columns
import com.intellij.ui.dsl.builder.panel
import com.servalhq.jetbrains.ServalProjectService

/** Settings | Tools | Serval: endpoint, token (password safe), agent path, and when to suggest. */
class ServalConfigurable : BoundConfigurable("Serval") {
    private val settings = ServalSettings.getInstance()
    private var token = ""
    private var tokenAtOpen = ""

    override fun createPanel(): DialogPanel {
        // One keychain read when the page opens; saving happens off the UI thread in apply().
        token = ServalToken.get()
        tokenAtOpen = token
        return panel {
            row("Server endpoint:") {
                textField()
                    .bindText({ settings.endpoint }, { settings.state.endpoint = it.trim() })
                    .columns(COLUMNS_LARGE)
                    .comment("Where <code>serval serve</code> listens, e.g. http://127.0.0.1:8080. Empty: the agent's own config file or SERVAL_ENDPOINT.")
            }
            row("Token:") {
                passwordField()
                    .bindText(::token)
                    .columns(COLUMNS_LARGE)
                    .comment("Kept in the IDE's password safe. Create one with <code>serval token create --name NAME</code>; the server writes its first one to &lt;data-dir&gt;/initial-token.")
            }
            row("serval-agent path:") {
                textField()
                    .bindText({ settings.agentPath }, { settings.state.agentPath = it.trim() })
                    .columns(COLUMNS_LARGE)
                    .comment("Used when no agent is bundled for this platform. Empty: serval-agent on PATH.")
            }
            row {
                checkBox("Enable inline completion")
                    .bindSelected({ settings.enabled }, { settings.state.enabled = it })
            }
            row {
                checkBox("Suggest while typing (otherwise only with Tools | Serval | Suggest Inline Completion)")
                    .bindSelected({ settings.automatic }, { settings.state.automatic = it })
            }
        }
    }

    override fun apply() {
        val agentPathBefore = settings.agentPath
        super.apply()
        val agentPathChanged = agentPathBefore != settings.agentPath
        val newToken = token.takeIf { it != tokenAtOpen }
        tokenAtOpen = token
        ApplicationManager.getApplication().executeOnPooledThread {
            if (newToken != null) {
                ServalToken.set(newToken)
            }
            for (project in ProjectManager.getInstance().openProjects) {
                if (!project.isDisposed) {
                    ServalProjectService.getInstance(project).settingsChanged(restartAgent = agentPathChanged)
                }
            }
        }
    }
}
