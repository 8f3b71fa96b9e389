package com.servalhq.jetbrains

import com.intellij.openapi.fileTypes.LanguageFileType
import com.intellij.openapi.vfs.VirtualFile
import java.util.Locale

/** Maps IntelliJ language ids to LSP language identifiers; the agent falls back to the file extension. */
internal object LanguageIds {
    private val known = mapOf(
        "JAVA" to "java",
        "kotlin" to "kotlin",
        "Python" to "python",
        "go" to "go",
        "JavaScript" to "javascript",
        "ECMAScript 6" to "javascript",
        "TypeScript" to "typescript",
        "TypeScript JSX" to "typescriptreact",
        "JSX Harmony" to "javascriptreact",
        "Rust" to "rust",
        "ObjectiveC" to "cpp",
        "C++" to "cpp",
        "C#" to "csharp",
        "PHP" to "php",
        "ruby" to "ruby",
        "Shell Script" to "shellscript",
        "HTML" to "html",
        "CSS" to "css",
        "JSON" to "json",
        "yaml" to "yaml",
        "Markdown" to "markdown",
        "SQL" to "sql",
        "Scala" to "scala",
        "Dart" to "dart",
        "Lua" to "lua",
        "TEXT" to "plaintext"
    )

    fun of(file: VirtualFile): String {
        val id = (file.fileType as? LanguageFileType)?.language?.id
        if (id != null) {
            known[id]?.let { return it }
        }
        return id?.lowercase(Locale.ROOT)?.replace(' ', '-') ?: (file.extension ?: "plaintext")
    }
}
