package com.servalhq.jetbrains.core;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Finds the serval-agent executable, in order: the binary bundled in the plugin for this platform
 * ({@code <bundleDir>/<os>-<arch>/serval-agent}, Go's os/arch names), the path configured in the
 * settings, then {@code serval-agent} on PATH. A configured path that does not exist is reported, not
 * silently replaced, so a typo in the settings is visible. No Node.js, no download: a native binary or
 * a clear message saying where it looked.
 */
public final class AgentLocator {
    public static final String BINARY = "serval-agent";

    /** Where the agent was found. */
    public enum Source { BUNDLED, CONFIGURED, PATH }

    /** The outcome: an executable and where it came from, or null with the places that were searched. */
    public record Result(Path executable, Source source, List<String> searched) {
        public boolean found() {
            return executable != null;
        }

        /** A message for the log and the status bar. */
        public String describe() {
            if (found()) {
                return "using " + executable + " (" + source.name().toLowerCase(Locale.ROOT) + ")";
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

    /**
     * @param bundleDir the plugin's folder of bundled agents, or null
     * @param configuredPath the path from the settings, or null/blank
     * @param pathEnv the PATH to search (System.getenv("PATH") in the IDE)
     * @param os Go's GOOS for this machine ({@link #currentOs()})
     * @param arch Go's GOARCH for this machine ({@link #currentArch()})
     */
    public AgentLocator(Path bundleDir, String configuredPath, String pathEnv, String os, String arch) {
        this.bundleDir = bundleDir;
        this.configuredPath = configuredPath;
        this.pathEnv = pathEnv;
        this.os = os;
        this.arch = arch;
    }

    /** Searches without throwing; file system errors count as "not there". */
    public Result locate() {
        List<String> searched = new ArrayList<>();
        String exe = os.equals("windows") ? BINARY + ".exe" : BINARY;
        if (bundleDir != null) {
            Path bundled = bundleDir.resolve(os + "-" + arch).resolve(exe);
            searched.add(bundled.toString());
            if (isExecutableFile(bundled)) {
                return new Result(bundled, Source.BUNDLED, searched);
            }
        }
        if (configuredPath != null && !configuredPath.isBlank()) {
            try {
                Path configured = Path.of(configuredPath.trim());
                searched.add(configured + " (configured)");
                if (isExecutableFile(configured)) {
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
                    if (isExecutableFile(candidate)) {
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

    private static boolean isExecutableFile(Path p) {
        try {
            return Files.isRegularFile(p) && Files.isExecutable(p);
        } catch (SecurityException e) {
            return false;
        }
    }

    /** This JVM's OS in Go's naming (linux, darwin, windows). */
    public static String currentOs() {
        String name = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
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
        String name = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        return switch (name) {
            case "amd64", "x86_64" -> "amd64";
            case "aarch64", "arm64" -> "arm64";
            default -> name;
        };
    }
}
