package com.servalhq.jetbrains.actions

import com.intellij.ide.BrowserUtil
import com.intellij.notification.Notification
import com.intellij.notification.NotificationAction
import com.intellij.notification.NotificationGroupManager
import com.intellij.notification.NotificationType
import com.intellij.openapi.actionSystem.ActionUpdateThread
import com.intellij.openapi.actionSystem.AnAction
import com.intellij.openapi.actionSystem.AnActionEvent
import com.intellij.openapi.application.ApplicationManager
import com.intellij.openapi.project.DumbAware
import com.intellij.openapi.project.Project
import com.servalhq.jetbrains.ServalProjectService
import com.servalhq.jetbrains.settings.ServalToken
import java.util.concurrent.CancellationException

/**
 * Tools > Serval > Sign In: the agent's device sign-in (core's [com.servalhq.jetbrains.core.AgentClient.signIn]).
 * Shows the code, opens the server's page in the browser, and keeps the token the agent receives in the
 * password safe, where the settings page reads it too. The notification's Cancel ends the sign-in.
 */
class SignInAction : AnAction(), DumbAware {
    override fun getActionUpdateThread(): ActionUpdateThread = ActionUpdateThread.BGT

    override fun update(e: AnActionEvent) {
        e.presentation.isEnabled = e.project?.let { ServalProjectService.getInstance(it).client() } != null
    }

    override fun actionPerformed(e: AnActionEvent) {
        val project = e.project ?: return
        val client = ServalProjectService.getInstance(project).client() ?: return
        var shown: Notification? = null
        val signIn = client.signIn { prompt ->
            ApplicationManager.getApplication().invokeLater {
                shown = notification(prompt.message(), NotificationType.INFORMATION)
                    .addAction(NotificationAction.createSimple("Open browser") { BrowserUtil.browse(prompt.uri()) })
                shown?.notify(project)
                BrowserUtil.browse(prompt.uri())
            }
        }
        signIn.whenComplete { result, error ->
            ApplicationManager.getApplication().invokeLater { shown?.expire() }
            when {
                error is CancellationException || signIn.isCancelled -> {}
                error != null -> notify(project, "Sign-in failed: ${error.message}", NotificationType.ERROR)
                else -> ApplicationManager.getApplication().executeOnPooledThread {
                    ServalToken.set(result.token()) // the keychain may block: off the UI thread
                    notify(project, "Signed in as ${result.user()} (token \"${result.tokenName()}\")", NotificationType.INFORMATION)
                }
            }
        }
    }

    private fun notification(text: String, type: NotificationType): Notification =
        NotificationGroupManager.getInstance().getNotificationGroup("Serval").createNotification("Serval", text, type)

    private fun notify(project: Project, text: String, type: NotificationType) {
        ApplicationManager.getApplication().invokeLater { notification(text, type).notify(project) }
    }
}
