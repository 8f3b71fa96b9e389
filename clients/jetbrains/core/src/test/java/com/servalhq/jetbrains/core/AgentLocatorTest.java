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

    /** A file whose first bytes are a 64-bit Mach-O header for cpu (0x0100000c arm64, 0x01000007 x86_64). */
    private Path machO(String relative, int cpu) throws IOException {
        Path p = executable(relative);
        java.nio.ByteBuffer h = java.nio.ByteBuffer.allocate(32).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        h.putInt(0xfeedfacf).putInt(cpu).putInt(0).putInt(2);
        Files.write(p, h.array());
        return p;
    }

    private static final int ARM64 = 0x0100000c;
    private static final int X86_64 = 0x01000007;

    @Test
    public void macsFindTheirBundledAgentUnderGoNames() throws IOException {
        // A JetBrains IDE on Apple silicon reports os.name "Mac OS X" and os.arch "aarch64"; on an Intel Mac "x86_64".
        Check.equal("darwin", AgentLocator.goOs("Mac OS X"), "os.name on a Mac");
        Check.equal("arm64", AgentLocator.goArch("aarch64"), "os.arch on Apple silicon");
        Check.equal("amd64", AgentLocator.goArch("x86_64"), "os.arch on an Intel Mac");
        Path arm = machO("mac/agent/darwin-arm64/serval-agent", ARM64);
        Path intel = machO("mac/agent/darwin-amd64/serval-agent", X86_64);
        java.util.function.Predicate<Path> none = f -> false;
        AgentLocator.Result r = new AgentLocator(root.resolve("mac/agent"), null, null, AgentLocator.goOs("Mac OS X"), AgentLocator.goArch("aarch64"), none).locate();
        Check.equal(arm, r.executable(), "Apple silicon: bin darwin-arm64");
        r = new AgentLocator(root.resolve("mac/agent"), null, null, AgentLocator.goOs("Mac OS X"), AgentLocator.goArch("x86_64"), none).locate();
        Check.equal(intel, r.executable(), "Intel Mac: darwin-amd64");
    }

    @Test
    public void aQuarantinedAgentOnAMacSaysHowToClearIt() throws IOException {
        Path agent = machO("downloads/serval-darwin-arm64/serval-agent", ARM64);
        AgentLocator.Result r = new AgentLocator(null, agent.toString(), null, "darwin", "arm64", agent::equals).locate();
        Check.isTrue(!r.found(), "a quarantined agent is not started");
        Check.contains(r.describe(), "macOS has quarantined " + agent, "the message names the file");
        Check.contains(r.describe(), "xattr -d com.apple.quarantine \"" + agent + "\"", "and gives the exact command");
        // The same file elsewhere than macOS: no quarantine to ask about.
        r = new AgentLocator(null, agent.toString(), null, "linux", "amd64", f -> { throw new AssertionError("asked off macOS"); }).locate();
        Check.isTrue(!r.found() && r.describe().contains("built for darwin-arm64"), "on linux: " + r.describe());
    }

    @Test
    public void theWrongArchitectureIsNamedOrPassedOver() throws IOException {
        // The Intel package's agent bundled on Apple silicon: passed over for the right one on PATH, and named if none.
        machO("wrong/agent/darwin-arm64/serval-agent", X86_64);
        Path onPath = machO("wrongpath/serval-agent", ARM64);
        java.util.function.Predicate<Path> none = f -> false;
        AgentLocator.Result r = new AgentLocator(root.resolve("wrong/agent"), null, onPath.getParent().toString(), "darwin", "arm64", none).locate();
        Check.equal(onPath, r.executable(), "the PATH agent for this machine");
        r = new AgentLocator(root.resolve("wrong/agent"), null, "", "darwin", "arm64", none).locate();
        Check.isTrue(!r.found(), "a foreign agent is not started");
        Check.contains(r.describe(), "darwin-arm64/serval-agent (built for darwin-amd64)", "says what the bundled one is");
        Path configured = machO("intel/serval-agent", X86_64);
        r = new AgentLocator(null, configured.toString(), null, "darwin", "arm64", none).locate();
        Check.contains(r.describe(), "is " + configured + ", a serval-agent built for darwin-amd64, but this machine is darwin-arm64", "configured");
        Check.contains(r.describe(), "serval-VERSION-darwin-arm64 release archive", "and says what to get");
        Check.equal("darwin-universal", AgentLocator.executablePlatform(new byte[] {(byte) 0xca, (byte) 0xfe, (byte) 0xba, (byte) 0xbe, 0, 0, 0, 2}), "universal");
        Check.isTrue(AgentLocator.executablePlatform("#!/bin/sh\n".getBytes()) == null, "a script is no platform's");
    }

    @Test
    public void platformNamesFollowGo() {
        String os = AgentLocator.currentOs();
        Check.isTrue(os.equals("linux") || os.equals("darwin") || os.equals("windows"), "os " + os);
        String arch = AgentLocator.currentArch();
        Check.isTrue(!arch.equals("x86_64") && !arch.equals("aarch64"), "Go arch names, got " + arch);
    }
}
