package com.servalhq.jetbrains

import com.intellij.ide.plugins.PluginManagerCore
import com.intellij.notification.NotificationAction
import com.intellij.notification.NotificationGroupManager
import com.intellij.notification.NotificationType
import com.intellij.openapi.Disposable
import com.intellij.openapi.application.ApplicationManager
import com.intellij.openapi.application.ApplicationInfo
import com.intellij.openapi.components.Service
import com.intellij.openapi.components.service
import com.intellij.openapi.editor.Document
import com.intellij.openapi.editor.Editor
import com.intellij.openapi.editor.EditorFactory
import com.intellij.openapi.editor.event.CaretEvent
import com.intellij.openapi.editor.event.CaretListener
import com.intellij.openapi.editor.event.DocumentEvent
import com.intellij.openapi.editor.event.DocumentListener
import com.intellij.openapi.extensions.PluginId
import com.intellij.openapi.fileEditor.FileDocumentManager
import com.intellij.openapi.fileEditor.FileEditorManager
import com.intellij.openapi.fileEditor.FileEditorManagerEvent
import com.intellij.openapi.fileEditor.FileEditorManagerListener
import com.intellij.openapi.fileEditor.TextEditor
import com.intellij.openapi.options.ShowSettingsUtil
import com.intellij.openapi.project.Project
import com.intellij.openapi.vfs.VirtualFile
import com.servalhq.jetbrains.core.AgentClient
import com.servalhq.jetbrains.core.AgentClientOptions
import com.servalhq.jetbrains.core.AgentLocator
import com.servalhq.jetbrains.core.AgentStatus
import com.servalhq.jetbrains.core.Position
import com.servalhq.jetbrains.core.Positions
import com.servalhq.jetbrains.core.ServerSettings
import com.servalhq.jetbrains.core.TextChange
import com.servalhq.jetbrains.settings.ServalConfigurable
import com.servalhq.jetbrains.settings.ServalSettings
import com.servalhq.jetbrains.settings.ServalToken
import java.nio.file.Path
import java.nio.file.Paths
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicInteger

/**
 * One serval-agent per project: starts it (from [ServalStartupActivity]), keeps the agent's copy of the
 * open files in sync, relays its status to the status bar, and stops it when the project closes.
 *
 * Everything that reaches the agent goes through core's [AgentClient], whose calls return at once; the
 * document listener below runs on the EDT inside the write action and only computes the edited range
 * (O(log lines), no copy of the document) before handing it over.
 */
@Service(Service.Level.PROJECT)
class ServalProjectService(private val project: Project) : Disposable {
    /** Open documents by URI, with the version last sent to the agent. */
    private val versions = ConcurrentHashMap<String, AtomicInteger>()
    private val statusListeners = CopyOnWriteArrayList<(AgentStatus) -> Unit>()

    @Volatile
    private var client: AgentClient? = null

    @Volatile
    var status: AgentStatus = AgentStatus(AgentStatus.Kind.STARTING, "")
        private set

    init {
        EditorFactory.getInstance().eventMulticaster.addDocumentListener(object : DocumentListener {
            override fun documentChanged(event: DocumentEvent) = onDocumentChanged(event)
        }, this)
        // Where the user looks (serval/didFocus): core reports a selected editor and caret jumps once the
        // caret rests, and the agent warms the server for that place before the first keystroke.
        EditorFactory.getInstance().eventMulticaster.addCaretListener(object : CaretListener {
            override fun caretPositionChanged(event: CaretEvent) {
                if (event.editor.project == project) {
                    focusOf(event.editor)?.let { (uri, position) -> client?.caretMoved(uri, position) }
                }
            }
        }, this)
        project.messageBus.connect(this).subscribe(FileEditorManagerListener.FILE_EDITOR_MANAGER, object : FileEditorManagerListener {
            override fun fileOpened(source: FileEditorManager, file: VirtualFile) {
                FileDocumentManager.getInstance().getDocument(file)?.let { ensureOpen(file, it) }
            }

            override fun selectionChanged(event: FileEditorManagerEvent) {
                val editor = (event.newEditor as? TextEditor)?.editor ?: return
                focusOf(editor)?.let { (uri, position) -> client?.editorSelected(uri, position) }
            }

            override fun fileClosed(source: FileEditorManager, file: VirtualFile) {
                if (!source.isFileOpen(file)) {
                    uriOf(file)?.let { uri ->
                        if (versions.remove(uri) != null) {
                            client?.closeDocument(uri)
                        }
                    }
                }
            }
        })
    }

    /** The running client, or null before [start] (the provider then suggests nothing). */
    fun client(): AgentClient? = client

    /** Starts the agent once; called off the UI thread (it reads the token from the password safe). */
    fun start() {
        if (client != null || project.isDisposed) {
            return
        }
        val settings = ServalSettings.getInstance()
        val created = synchronized(this) {
            if (client != null) return
            AgentClient(
                AgentClientOptions()
                    .locator {
                        // Evaluated at every (re)start, so a changed agent path applies on restart.
                        AgentLocator(bundledAgentDir(), ServalSettings.getInstance().agentPath, System.getenv("PATH"),
                            AgentLocator.currentOs(), AgentLocator.currentArch()).locate()
                    }
                    .workspace(project.basePath?.let { Path.of(it) }, project.basePath?.let { Paths.get(it).toUri().toString() })
                    .clientInfo(ApplicationInfo.getInstance().fullApplicationName, pluginVersion())
                    .server(ServerSettings(settings.endpoint, ServalToken.get()))
                    .log(IdeAgentLog)
            ).also { client = it }
        }
        created.addStatusListener(::onStatus)
        created.start()
        ApplicationManager.getApplication().invokeLater({
            val fileDocuments = FileDocumentManager.getInstance()
            for (file in FileEditorManager.getInstance(project).openFiles) {
                fileDocuments.getDocument(file)?.let { ensureOpen(file, it) }
            }
        }, project.disposed)
    }

    /** Settings changed: send the new endpoint/token; restart when the agent binary may have changed. */
    fun settingsChanged(restartAgent: Boolean) {
        val c = client ?: return
        val settings = ServalSettings.getInstance()
        c.updateServerSettings(ServerSettings(settings.endpoint, ServalToken.get()))
        if (restartAgent) {
            c.restart()
        }
    }

    fun restart() {
        client?.restart() ?: ApplicationManager.getApplication().executeOnPooledThread { start() }
    }

    /**
     * Opens [file] in the agent if it is not open yet and returns its URI; null for files the agent
     * cannot see (not on the local file system). Call on the EDT or in a read action.
     */
    fun ensureOpen(file: VirtualFile, document: Document): String? {
        val uri = uriOf(file) ?: return null
        val c = client ?: return uri
        if (versions.putIfAbsent(uri, AtomicInteger(1)) == null) {
            // The one full copy: the agent needs the text once; later edits travel as fragments.
            c.openDocument(uri, LanguageIds.of(file), 1, document.immutableCharSequence.toString()) {
                document.immutableCharSequence.toString() // thread-safe snapshot, for a restarted agent
            }
        }
        return uri
    }

    /** The open document of [editor] and its caret, when it has one caret; on the EDT. */
    private fun focusOf(editor: Editor): Pair<String, Position>? {
        if (editor.caretModel.caretCount != 1) {
            return null
        }
        val document = editor.document
        val file = FileDocumentManager.getInstance().getFile(document) ?: return null
        val uri = ensureOpen(file, document) ?: return null
        return uri to Positions.positionAt(DocumentLineMap(document), editor.caretModel.offset)
    }

    private fun onDocumentChanged(event: DocumentEvent) {
        val c = client ?: return
        val file = FileDocumentManager.getInstance().getFile(event.document) ?: return
        val uri = uriOf(file) ?: return
        val version = versions[uri] ?: return
        val change = TextChange.fromEdit(DocumentLineMap(event.document), event.offset, event.oldFragment, event.newFragment.toString())
        c.changeDocument(uri, version.incrementAndGet(), listOf(change))
    }

    fun addStatusListener(listener: (AgentStatus) -> Unit) {
        statusListeners += listener
    }

    fun removeStatusListener(listener: (AgentStatus) -> Unit) {
        statusListeners -= listener
    }

    /** Runs on core's control thread: store, fan out, and tell the user about what needs their action. */
    private fun onStatus(next: AgentStatus) {
        val previous = status
        status = next
        statusListeners.forEach { it(next) }
        val needsUser = next.kind() == AgentStatus.Kind.UNAUTHORIZED || next.kind() == AgentStatus.Kind.AGENT_NOT_FOUND
        if (needsUser && previous.kind() != next.kind()) {
            ApplicationManager.getApplication().invokeLater({
                NotificationGroupManager.getInstance().getNotificationGroup("Serval")
                    .createNotification("Serval", next.message().ifEmpty { next.kind().wireName() }, NotificationType.WARNING)
                    .addAction(NotificationAction.createSimpleExpiring("Open Serval settings") {
                        ShowSettingsUtil.getInstance().showSettingsDialog(project, ServalConfigurable::class.java)
                    })
                    .notify(project)
            }, project.disposed)
        }
    }

    override fun dispose() {
        // Asynchronous: shutdown/exit, then a kill if the agent lingers. The IDE does not wait for it.
        client?.shutdown()
        client = null
    }

    companion object {
        private const val PLUGIN_ID = "com.servalhq.serval"

        fun getInstance(project: Project): ServalProjectService = project.service()

        /** LSP URIs for local files; other files (in jars, unsaved scratch buffers) are not sent. */
        fun uriOf(file: VirtualFile): String? =
            if (file.isInLocalFileSystem) Paths.get(file.path).toUri().toString() else null

        private fun bundledAgentDir(): Path? =
            PluginManagerCore.getPlugin(PluginId.getId(PLUGIN_ID))?.pluginPath?.resolve("agent")

        private fun pluginVersion(): String =
            PluginManagerCore.getPlugin(PluginId.getId(PLUGIN_ID))?.version ?: "dev"
    }
}
