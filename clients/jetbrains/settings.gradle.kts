// Serval for JetBrains: `core` (plain Java + gson, no IntelliJ dependency; also built and tested with
// javac by `make test-jetbrains`) and `plugin` (the IntelliJ Platform layer). Needs Maven Central and
// JetBrains' repositories, which the project's CI machines cannot reach: see README.md.
rootProject.name = "serval-jetbrains"

pluginManagement {
    repositories {
        gradlePluginPortal()
        mavenCentral()
    }
}

include("core", "plugin")
