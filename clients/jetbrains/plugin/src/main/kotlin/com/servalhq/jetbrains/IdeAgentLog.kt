package com.servalhq.jetbrains

import com.intellij.openapi.diagnostic.Logger
import com.servalhq.jetbrains.core.AgentLog

/**
 * Routes core's log to idea.log. Agent failures are logged as warnings, never as IDE errors: a missing or
 * crashing serval-agent is a state the status bar shows, not a plugin bug worth a fatal-error balloon.
 */
internal object IdeAgentLog : AgentLog {
    private val LOG = Logger.getInstance("#com.servalhq.jetbrains.agent")

    override fun info(message: String) = LOG.info(message)

    override fun warn(message: String) = LOG.warn(message)

    override fun error(message: String, cause: Throwable?) = LOG.warn(message, cause)

    // The agent logs every request at info level; keep that out of idea.log unless debug logging is on.
    // Core keeps the last stderr lines for the failure message either way.
    override fun agentStderr(line: String) = LOG.debug("[serval-agent] ", line)
}
