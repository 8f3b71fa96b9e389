package com.servalhq.jetbrains

import com.intellij.openapi.project.Project
import com.intellij.openapi.startup.ProjectActivity

/** Starts the project's serval-agent once the project is open, on a background coroutine. */
class ServalStartupActivity : ProjectActivity {
    override suspend fun execute(project: Project) {
        ServalProjectService.getInstance(project).start()
    }
}
