package com.servalhq.jetbrains.core;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * Finds the serval-agent executable, in order: the binary bundled in the plugin for this platform
 * ({@code <bundleDir>/<os>-<arch>/serval-agent}, Go's os/arch names), the path configured in the
 * settings, then {@code serval-agent} on PATH. A configured path that does not exist is reported, not
 * silently replaced, so a typo in the settings is visible. No Node.js, no download: a native binary or
 * a clear message saying where it looked.
 *
 * <p>The operating system would refuse two kinds of agent at start with a bare error, so they are told
 * apart first, as the VS Code extension does: a binary built for another platform (its ELF, PE or Mach-O
 * header says which; a bundled or PATH one is passed over, a configured one is reported), and on macOS a
 * quarantined download, which Gatekeeper will not start: the message gives the {@code xattr} command
 * that clears it.
 */
public final class AgentLocator {
    public static final String BINARY = "serval-agent";

    /** Where the agent was found. */
    public enum Source { BUNDLED, CONFIGURED, PATH }

    /** The outcome: an executable and where it came from, or null with the places that were searched. */
    public record Result(Path executable, Source source, List<String> searched, String problem) {
        public Result(Path executable, Source source, List<String> searched) {
            this(executable, source, searched, null);
        }

        public boolean found() {
            return executable != null;
        }

        /** A message for the log and the status bar. */
        public String describe() {
            if (found()) {
                return "using " + executable + " (" + source.name().toLowerCase(Locale.ROOT) + ")";
            }
            if (problem != null) {
                return problem;
            }
            return BINARY + " not found; looked in: " + String.join(", ", searched)
                    + ". Install serval-agent on PATH or set its path in Settings | Tools | Serval.";
        }
    }

    private final Path bundleDir;
    private final String configuredPath;
    private final String pathEnv;
    private final String os;
    private final String arch;
    private final Predicate<Path> quarantined;

    /**
     * @param bundleDir the plugin's folder of bundled agents, or null
     * @param configuredPath the path from the settings, or null/blank
     * @param pathEnv the PATH to search (System.getenv("PATH") in the IDE)
     * @param os Go's GOOS for this machine ({@link #currentOs()})
     * @param arch Go's GOARCH for this machine ({@link #currentArch()})
     */
    public AgentLocator(Path bundleDir, String configuredPath, String pathEnv, String os, String arch) {
        this(bundleDir, configuredPath, pathEnv, os, arch, AgentLocator::hasQuarantineFlag);
    }

    /**
     * @param quarantined whether macOS marked a file as downloaded (asked only when {@code os} is darwin;
     *     {@link #hasQuarantineFlag} in the IDE, a fake in tests)
     */
    public AgentLocator(Path bundleDir, String configuredPath, String pathEnv, String os, String arch, Predicate<Path> quarantined) {
        this.bundleDir = bundleDir;
        this.configuredPath = configuredPath;
        this.pathEnv = pathEnv;
        this.os = os;
        this.arch = arch;
        this.quarantined = quarantined;
    }

    /** Searches without throwing; file system errors count as "not there". */
    public Result locate() {
        Result r = search();
        if (r.found() && os.equals("darwin") && quarantined.test(r.executable())) {
            return new Result(null, null, r.searched(), quarantinedMessage(r.executable()));
        }
        return r;
    }

    /**
     * macOS marks what a browser downloads, and what is unpacked from it, with com.apple.quarantine;
     * Gatekeeper then refuses to start a program Apple has not notarized, and serval-agent is signed ad
     * hoc only. The same words as the VS Code extension's.
     */
    public static String quarantinedMessage(Path file) {
        return "macOS has quarantined " + file + " (it came from a download), so Gatekeeper will not let it start. "
                + "If you trust this copy of serval-agent, clear the flag in a terminal: xattr -d com.apple.quarantine \""
                + file + "\" and then run Tools | Serval | Restart serval-agent.";
    }

    /** Whether the file carries com.apple.quarantine: {@code xattr -p} exits 0 when it does (macOS only). */
    public static boolean hasQuarantineFlag(Path file) {
        try {
            Process p = new ProcessBuilder("/usr/bin/xattr", "-p", "com.apple.quarantine", file.toString())
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(5, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return false;
            }
            return p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private Result search() {
        List<String> searched = new ArrayList<>();
        String exe = os.equals("windows") ? BINARY + ".exe" : BINARY;
        if (bundleDir != null) {
            Path bundled = bundleDir.resolve(os + "-" + arch).resolve(exe);
            String built = isExecutableFile(bundled) ? foreignPlatform(bundled) : null;
            searched.add(bundled + (built != null ? " (built for " + built + ")" : ""));
            if (isExecutableFile(bundled) && built == null) {
                return new Result(bundled, Source.BUNDLED, searched);
            }
        }
        if (configuredPath != null && !configuredPath.isBlank()) {
            try {
                Path configured = Path.of(configuredPath.trim());
                searched.add(configured + " (configured)");
                if (isExecutableFile(configured)) {
                    String built = foreignPlatform(configured);
                    if (built != null) {
                        return new Result(null, null, searched, "The serval-agent path in Settings | Tools | Serval is " + configured
                                + ", a serval-agent built for " + built + ", but this machine is " + os + "-" + arch + ". Use the "
                                + os + "-" + arch + " build of serval-agent (from the serval-VERSION-" + os + "-" + arch
                                + " release archive), or clear the setting to use the bundled one.");
                    }
                    return new Result(configured, Source.CONFIGURED, searched);
                }
                return new Result(null, null, searched);
            } catch (InvalidPathException e) {
                searched.add(configuredPath + " (configured, invalid path)");
                return new Result(null, null, searched);
            }
        }
        if (pathEnv != null) {
            for (String dir : pathEnv.split(File.pathSeparator)) {
                if (dir.isEmpty()) {
                    continue;
                }
                try {
                    Path candidate = Path.of(dir).resolve(exe);
                    if (isExecutableFile(candidate) && foreignPlatform(candidate) == null) {
                        searched.add("PATH");
                        return new Result(candidate, Source.PATH, searched);
                    }
                } catch (InvalidPathException ignored) {
                    // An odd PATH entry is not ours to fix.
                }
            }
            searched.add("PATH");
        }
        return new Result(null, null, searched);
    }

    /**
     * The platform a binary is built for (Go's names, e.g. darwin-amd64) when it is not this machine's;
     * null for this machine's, a universal macOS binary, or anything that is not ELF, PE or Mach-O
     * (a script).
     */
    String foreignPlatform(Path file) {
        String built = executablePlatform(readHead(file));
        if (built == null || built.equals("darwin-universal") || built.equals(os + "-" + arch)) {
            return null;
        }
        return built;
    }

    private static byte[] readHead(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            return in.readNBytes(512);
        } catch (IOException | SecurityException e) {
            return new byte[0];
        }
    }

    /** Reads an executable's header: ELF, PE or Mach-O, as Go's os-arch; null for anything else. */
    static String executablePlatform(byte[] head) {
        ByteBuffer b = ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN);
        if (head.length >= 20 && head[0] == 0x7f && head[1] == 'E' && head[2] == 'L' && head[3] == 'F') {
            int machine = b.getShort(18) & 0xffff;
            return "linux-" + switch (machine) {
                case 62 -> "amd64";
                case 183 -> "arm64";
                default -> "machine" + machine;
            };
        }
        if (head.length >= 0x40 && head[0] == 'M' && head[1] == 'Z') {
            int pe = b.getInt(0x3c);
            if (pe > 0 && pe + 6 <= head.length && b.getInt(pe) == 0x4550) {
                int machine = b.getShort(pe + 4) & 0xffff;
                return "windows-" + switch (machine) {
                    case 0x8664 -> "amd64";
                    case 0xaa64 -> "arm64";
                    default -> "machine" + machine;
                };
            }
            return null;
        }
        if (head.length >= 8 && b.getInt(0) == 0xfeedfacf) {
            int cpu = b.getInt(4);
            return "darwin-" + switch (cpu) {
                case 0x01000007 -> "amd64";
                case 0x0100000c -> "arm64";
                default -> "cpu" + cpu;
            };
        }
        if (head.length >= 4 && (head[0] & 0xff) == 0xca && (head[1] & 0xff) == 0xfe && (head[2] & 0xff) == 0xba && (head[3] & 0xff) == 0xbe) {
            return "darwin-universal";
        }
        return null;
    }

    private static boolean isExecutableFile(Path p) {
        try {
            return Files.isRegularFile(p) && Files.isExecutable(p);
        } catch (SecurityException e) {
            return false;
        }
    }

    /** This JVM's OS in Go's naming (linux, darwin, windows). */
    public static String currentOs() {
        return goOs(System.getProperty("os.name", ""));
    }

    /** Go's GOOS for a JVM os.name ("Mac OS X", "Windows 11", "Linux"). */
    static String goOs(String osName) {
        String name = osName.toLowerCase(Locale.ROOT);
        if (name.startsWith("windows")) {
            return "windows";
        }
        if (name.startsWith("mac") || name.startsWith("darwin")) {
            return "darwin";
        }
        return "linux";
    }

    /** This JVM's architecture in Go's naming (amd64, arm64). */
    public static String currentArch() {
        return goArch(System.getProperty("os.arch", ""));
    }

    /** Go's GOARCH for a JVM os.arch ("aarch64" on Apple silicon, "x86_64" on an Intel Mac). */
    static String goArch(String osArch) {
        String name = osArch.toLowerCase(Locale.ROOT);
        return switch (name) {
            case "amd64", "x86_64" -> "amd64";
            case "aarch64", "arm64" -> "arm64";
            default -> name;
        };
    }
}
