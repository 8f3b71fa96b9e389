// The IDE-independent core. `make test-jetbrains` compiles the same sources with javac against
// Debian's gson; this build is for the plugin, which needs core as a jar.
plugins {
    `java-library`
}

repositories {
    mavenCentral()
}

dependencies {
    // The IntelliJ Platform ships gson; the plugin uses that copy, so core only compiles against it.
    compileOnly("com.google.code.gson:gson:2.10.1")
    testImplementation("com.google.code.gson:gson:2.10.1")
}

java {
    toolchain {
        languageVersion = JavaLanguageVersion.of(17)
    }
}

tasks.withType<JavaCompile>().configureEach {
    options.release = 17
    options.encoding = "UTF-8"
    options.compilerArgs.add("-Xlint:all")
}

// The tests use their own small runner (see TestRunner.java), not JUnit.
val unitTest by tasks.registering(JavaExec::class) {
    group = "verification"
    description = "Runs core's unit tests with the JUnit-free runner."
    classpath = sourceSets["test"].runtimeClasspath
    mainClass = "com.servalhq.jetbrains.core.TestRunner"
    args = listOf(
        "MessageReaderTest", "JsonRpcConnectionTest", "PositionsTest", "CompletionItemTest",
        "StatusTest", "RestartPolicyTest", "AgentLocatorTest", "DocumentSyncTest", "AgentClientTest",
    ).map { "com.servalhq.jetbrains.core.$it" }
}

tasks.named("check") {
    dependsOn(unitTest)
}
