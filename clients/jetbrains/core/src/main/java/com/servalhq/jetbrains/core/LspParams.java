package com.servalhq.jetbrains.core;

import com.google.gson.JsonArray;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;

/**
 * The params of every message the client sends to the agent, built in one place so the wire shapes
 * (LSP 3.18 plus Serval's additions) can be read side by side. Pure: no state, no I/O.
 */
final class LspParams {
    private LspParams() {}

    /** initialize: who we are, the workspace, what we support, and the server settings to start with. */
    static JsonObject initialize(String clientName, String clientVersion, String rootUri, ServerSettings server) {
        JsonObject params = new JsonObject();
        params.addProperty("processId", ProcessHandle.current().pid());
        JsonObject clientInfo = new JsonObject();
        clientInfo.addProperty("name", clientName);
        clientInfo.addProperty("version", clientVersion);
        params.add("clientInfo", clientInfo);
        if (rootUri != null) {
            params.addProperty("rootUri", rootUri);
            JsonArray folders = new JsonArray();
            JsonObject folder = new JsonObject();
            folder.addProperty("uri", rootUri);
            folder.addProperty("name", rootUri.substring(rootUri.lastIndexOf('/') + 1));
            folders.add(folder);
            params.add("workspaceFolders", folders);
        } else {
            params.add("rootUri", JsonNull.INSTANCE);
        }
        params.add("capabilities", clientCapabilities());
        params.add("initializationOptions", server.toJson());
        return params;
    }

    /** What this client supports: UTF-16 positions only (IntelliJ offsets are UTF-16), incremental sync, inline completion. */
    static JsonObject clientCapabilities() {
        JsonObject general = new JsonObject();
        JsonArray encodings = new JsonArray();
        encodings.add("utf-16");
        general.add("positionEncodings", encodings);

        JsonObject synchronization = new JsonObject();
        synchronization.addProperty("dynamicRegistration", false);
        synchronization.addProperty("didSave", false);
        JsonObject inline = new JsonObject();
        inline.addProperty("dynamicRegistration", false);
        JsonObject textDocument = new JsonObject();
        textDocument.add("synchronization", synchronization);
        textDocument.add("inlineCompletion", inline);

        JsonObject didChangeConfiguration = new JsonObject();
        didChangeConfiguration.addProperty("dynamicRegistration", false);
        JsonObject workspace = new JsonObject();
        workspace.addProperty("configuration", true);
        workspace.add("didChangeConfiguration", didChangeConfiguration);
        JsonObject executeCommand = new JsonObject();
        executeCommand.addProperty("dynamicRegistration", false);
        workspace.add("executeCommand", executeCommand);

        JsonObject window = new JsonObject();
        window.addProperty("workDoneProgress", false);

        JsonObject capabilities = new JsonObject();
        capabilities.add("general", general);
        capabilities.add("textDocument", textDocument);
        capabilities.add("workspace", workspace);
        capabilities.add("window", window);
        return capabilities;
    }

    /** workspace/didChangeConfiguration, with the settings under the "serval" section as the agent reads them. */
    static JsonObject didChangeConfiguration(ServerSettings settings) {
        JsonObject params = new JsonObject();
        JsonObject wrapped = new JsonObject();
        wrapped.add("serval", settings.toJson());
        params.add("settings", wrapped);
        return params;
    }

    static JsonObject didOpen(String uri, String languageId, int version, String text) {
        JsonObject item = new JsonObject();
        item.addProperty("uri", uri);
        item.addProperty("languageId", languageId);
        item.addProperty("version", version);
        item.addProperty("text", text);
        JsonObject params = new JsonObject();
        params.add("textDocument", item);
        return params;
    }

    /** textDocument/didChange; {@code contentChanges} holds either range edits or one whole text. */
    static JsonObject didChange(String uri, int version, JsonArray contentChanges) {
        JsonObject params = new JsonObject();
        params.add("textDocument", versionedId(uri, version));
        params.add("contentChanges", contentChanges);
        return params;
    }

    static JsonObject didClose(String uri) {
        JsonObject params = new JsonObject();
        params.add("textDocument", textDocumentId(uri));
        return params;
    }

    static JsonObject inlineCompletion(String uri, Position position, TriggerKind trigger) {
        JsonObject params = new JsonObject();
        params.add("textDocument", textDocumentId(uri));
        params.add("position", position.toJson());
        JsonObject context = new JsonObject();
        context.addProperty("triggerKind", trigger.value());
        params.add("context", context);
        return params;
    }

    /** serval/didFocus: the document and the caret's position. */
    static JsonObject focus(String uri, Position position) {
        JsonObject params = new JsonObject();
        params.add("textDocument", textDocumentId(uri));
        params.add("position", position.toJson());
        return params;
    }

    /** textDocument/didShowCompletion: the item as the agent sent it. */
    static JsonObject shownItem(InlineCompletionItem item) {
        JsonObject params = new JsonObject();
        params.add("item", item.raw());
        return params;
    }

    /** textDocument/didPartiallyAcceptCompletion: the item and how many UTF-16 units of it were taken. */
    static JsonObject partiallyAccepted(InlineCompletionItem item, int acceptedLength) {
        JsonObject params = shownItem(item);
        params.addProperty("acceptedLength", acceptedLength);
        return params;
    }

    static JsonObject executeCommand(String command, JsonArray arguments) {
        JsonObject params = new JsonObject();
        params.addProperty("command", command);
        params.add("arguments", arguments);
        return params;
    }

    private static JsonObject textDocumentId(String uri) {
        JsonObject id = new JsonObject();
        id.addProperty("uri", uri);
        return id;
    }

    private static JsonObject versionedId(String uri, int version) {
        JsonObject id = textDocumentId(uri);
        id.addProperty("version", version);
        return id;
    }
}
