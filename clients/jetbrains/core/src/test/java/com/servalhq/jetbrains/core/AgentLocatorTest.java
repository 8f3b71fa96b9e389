package com.servalhq.jetbrains.core;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

public class AgentLocatorTest {
    private final Path root;

    public AgentLocatorTest() throws IOException {
        root = Files.createTempDirectory("serval-locator");
        root.toFile().deleteOnExit();
    }

    private Path executable(String relative) throws IOException {
        Path p = root.resolve(relative);
        Files.createDirectories(p.getParent());
        Files.writeString(p, "#!/bin/sh\n");
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
        return p;
    }

    @Test
    public void prefersTheBundledBinaryForThisPlatform() throws IOException {
        Path bundled = executable("plugin/agent/linux-arm64/serval-agent");
        executable("plugin/agent/linux-amd64/serval-agent");
        Path configured = executable("custom/serval-agent");
        AgentLocator.Result r = new AgentLocator(root.resolve("plugin/agent"), configured.toString(), root.resolve("custom").toString(), "linux", "arm64").locate();
        Check.equal(bundled, r.executable(), "bundled for linux-arm64");
        Check.equal(AgentLocator.Source.BUNDLED, r.source(), "source");
    }

    @Test
    public void windowsBinaryHasExeSuffix() throws IOException {
        Path bundled = executable("agent/windows-amd64/serval-agent.exe");
        AgentLocator.Result r = new AgentLocator(root.resolve("agent"), null, null, "windows", "amd64").locate();
        Check.equal(bundled, r.executable(), "exe");
    }

    @Test
    public void configuredPathWhenNothingIsBundled() throws IOException {
        Path configured = executable("custom/serval-agent");
        AgentLocator.Result r = new AgentLocator(root.resolve("missing"), "  " + configured + "  ", "", "linux", "amd64").locate();
        Check.equal(configured, r.executable(), "configured (trimmed)");
        Check.equal(AgentLocator.Source.CONFIGURED, r.source(), "source");
    }

    @Test
    public void aConfiguredPathThatDoesNotExistIsReportedNotReplaced() throws IOException {
        executable("onpath/serval-agent");
        AgentLocator.Result r = new AgentLocator(null, root.resolve("typo/serval-agnet").toString(), root.resolve("onpath").toString(), "linux", "amd64").locate();
        Check.isTrue(!r.found(), "not found");
        Check.contains(r.describe(), "typo/serval-agnet", "the message names the configured path");
        Check.contains(r.describe(), "Settings", "and says where to fix it");
    }

    @Test
    public void searchesPathInOrder() throws IOException {
        Files.createDirectories(root.resolve("a"));
        Path second = executable("b/serval-agent");
        executable("c/serval-agent");
        String path = root.resolve("a") + java.io.File.pathSeparator + java.io.File.pathSeparator + second.getParent() + java.io.File.pathSeparator + root.resolve("c");
        AgentLocator.Result r = new AgentLocator(null, "", path, "linux", "amd64").locate();
        Check.equal(second, r.executable(), "first PATH entry that has it");
        Check.equal(AgentLocator.Source.PATH, r.source(), "source");
    }

    @Test
    public void skipsFilesThatAreNotExecutable() throws IOException {
        Path p = root.resolve("noexec/serval-agent");
        Files.createDirectories(p.getParent());
        Files.writeString(p, "not executable");
        AgentLocator.Result r = new AgentLocator(null, null, p.getParent().toString(), "linux", "amd64").locate();
        Check.isTrue(!r.found(), "a non-executable file is not an agent");
        Check.contains(r.describe(), "serval-agent not found", "message");
    }

    @Test
    public void platformNamesFollowGo() {
        String os = AgentLocator.currentOs();
        Check.isTrue(os.equals("linux") || os.equals("darwin") || os.equals("windows"), "os " + os);
        String arch = AgentLocator.currentArch();
        Check.isTrue(!arch.equals("x86_64") && !arch.equals("aarch64"), "Go arch names, got " + arch);
    }
}
