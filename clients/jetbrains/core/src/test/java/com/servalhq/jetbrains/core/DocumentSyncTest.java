package com.servalhq.jetbrains.core;

import com.google.gson.JsonParser;

/** How the agent's initialize capabilities choose between incremental and whole-text didChange. */
public class DocumentSyncTest {
    private static boolean fullSync(String capabilities) {
        return DocumentSync.wantsFullSync(capabilities == null ? null : JsonParser.parseString(capabilities).getAsJsonObject());
    }

    @Test
    public void syncKindFromCapabilities() {
        // LSP allows both a bare TextDocumentSyncKind and TextDocumentSyncOptions.
        Check.isTrue(fullSync("{\"textDocumentSync\":1}"), "Full as a number");
        Check.isTrue(fullSync("{\"textDocumentSync\":{\"openClose\":true,\"change\":1}}"), "Full in options");
        Check.isTrue(!fullSync("{\"textDocumentSync\":2}"), "Incremental as a number");
        Check.isTrue(!fullSync("{\"textDocumentSync\":{\"change\":2}}"), "Incremental in options");
        // Anything the client cannot read keeps the incremental changes it sends by default.
        Check.isTrue(!fullSync("{\"textDocumentSync\":{\"openClose\":true}}"), "options without change");
        Check.isTrue(!fullSync("{}"), "no textDocumentSync");
        Check.isTrue(!fullSync(null), "no capabilities");
        Check.isTrue(!fullSync("{\"textDocumentSync\":\"full\"}"), "a string");
    }
}
