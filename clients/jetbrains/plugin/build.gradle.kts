// The IntelliJ Platform layer of Serval for JetBrains, built with the IntelliJ Platform Gradle Plugin 2.x.
//
//   gradle :plugin:buildPlugin -PagentDir=/path/to/agents
//
// agentDir holds serval-agent binaries laid out as <os>-<arch>/serval-agent (Go's GOOS-GOARCH names,
// e.g. linux-amd64, darwin-arm64, windows-amd64/serval-agent.exe); they are bundled into the plugin's
// `agent` folder, where AgentLocator looks first. `make jetbrains-agent-bundle` fills it for this machine.
plugins {
    id("java")
    id("org.jetbrains.kotlin.jvm") version "2.0.21"
    id("org.jetbrains.intellij.platform") version "2.2.1"
}

group = "com.servalhq"
version = providers.gradleProperty("pluginVersion").get()

repositories {
    mavenCentral()
    intellijPlatform {
        defaultRepositories()
    }
}

dependencies {
    implementation(project(":core"))
    intellijPlatform {
        intellijIdeaCommunity(providers.gradleProperty("platformVersion"))
        pluginVerifier()
        zipSigner()
    }
}

kotlin {
    // IntelliJ 2024.2 and later run on Java 21.
    jvmToolchain(21)
}

intellijPlatform {
    pluginConfiguration {
        version = providers.gradleProperty("pluginVersion")
        ideaVersion {
            sinceBuild = providers.gradleProperty("pluginSinceBuild")
            untilBuild = provider { null }
        }
    }
    pluginVerification {
        ides {
            recommended()
        }
    }
}

val agentDir = providers.gradleProperty("agentDir").orElse(layout.projectDirectory.dir("build/agent").asFile.path)

tasks {
    prepareSandbox {
        from(agentDir) {
            into(pluginName.map { "$it/agent" })
            filePermissions { unix("rwxr-xr-x") }
        }
    }
}
