package com.servalhq.jetbrains.settings

import com.intellij.credentialStore.CredentialAttributes
import com.intellij.credentialStore.generateServiceName
import com.intellij.ide.passwordSafe.PasswordSafe
import com.intellij.openapi.components.BaseState
import com.intellij.openapi.components.Service
import com.intellij.openapi.components.SimplePersistentStateComponent
import com.intellij.openapi.components.State
import com.intellij.openapi.components.Storage
import com.intellij.openapi.components.service

/**
 * The plugin's settings, stored in `serval.xml`. The token is not here: it lives in the IDE's password
 * safe ([ServalToken]).
 */
@Service(Service.Level.APP)
@State(name = "ServalSettings", storages = [Storage("serval.xml")])
class ServalSettings : SimplePersistentStateComponent<ServalSettings.Options>(Options()) {
    class Options : BaseState() {
        /** The Serval server, e.g. http://127.0.0.1:8080; empty leaves the agent's own configuration in charge. */
        var endpoint by string("")

        /** A serval-agent to use when none is bundled for this platform; empty searches PATH. */
        var agentPath by string("")

        /** Inline completion at all. */
        var enabled by property(true)

        /** Suggest while typing; when off, only the Suggest action (Alt+\) asks. */
        var automatic by property(true)
    }

    val endpoint: String get() = state.endpoint.orEmpty()
    val agentPath: String get() = state.agentPath.orEmpty()
    val enabled: Boolean get() = state.enabled
    val automatic: Boolean get() = state.automatic

    companion object {
        fun getInstance(): ServalSettings = service()
    }
}

/**
 * The server token in the IDE's password safe (the OS keychain where there is one). Reading it may
 * block on the keychain, so callers stay off the UI thread where they can.
 */
object ServalToken {
    private val attributes = CredentialAttributes(generateServiceName("Serval", "server token"))

    fun get(): String = PasswordSafe.instance.getPassword(attributes).orEmpty()

    fun set(token: String) {
        PasswordSafe.instance.setPassword(attributes, token.trim().ifEmpty { null })
    }
}
