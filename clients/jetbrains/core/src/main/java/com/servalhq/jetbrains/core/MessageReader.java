package com.servalhq.jetbrains.core;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * Reads LSP base-protocol frames ({@code Content-Length: N\r\n\r\n<N bytes>}) from a stream.
 *
 * <p>The agent's stdout is the only channel, so anything that is not a frame (a stray print, a crash
 * trace) must not wedge the connection: such bytes are reported to the {@link GarbageListener} and the
 * reader resynchronises on the next {@code Content-Length} header. Header lines and bodies are bounded so
 * a broken peer cannot make the IDE allocate without limit.
 */
public final class MessageReader {
    /** Receives a description of input that was skipped because it was not a valid frame. */
    @FunctionalInterface
    public interface GarbageListener {
        void onGarbage(String description, int skippedBytes);
    }

    /** The longest header line accepted; longer lines are garbage. */
    static final int MAX_HEADER_LINE = 8 * 1024;
    /** The largest body accepted (a completion result is a few KB; 64 MB leaves room for anything sane). */
    public static final int MAX_BODY = 64 * 1024 * 1024;

    private final InputStream in;
    private final GarbageListener garbage;

    public MessageReader(InputStream in, GarbageListener garbage) {
        this.in = in instanceof BufferedInputStream ? in : new BufferedInputStream(in, 64 * 1024);
        this.garbage = garbage;
    }

    /**
     * Returns the next frame's body, or {@code null} at end of stream. Blocks the calling thread, so it
     * runs only on the connection's reader thread.
     */
    public byte[] readFrame() throws IOException {
        while (true) {
            int contentLength = -1;
            boolean sawHeader = false;
            while (true) {
                String line = readLine();
                if (line == null) {
                    if (sawHeader) {
                        garbage.onGarbage("stream ended inside a frame header", 0);
                    }
                    return null;
                }
                if (line.isEmpty()) {
                    if (sawHeader) {
                        break; // end of headers
                    }
                    continue; // blank lines between frames are harmless
                }
                int colon = line.indexOf(':');
                String name = colon > 0 ? line.substring(0, colon).trim().toLowerCase(Locale.ROOT) : "";
                if (name.equals("content-length")) {
                    contentLength = parseLength(line.substring(colon + 1).trim());
                    if (contentLength < 0) {
                        garbage.onGarbage("invalid Content-Length header: " + preview(line), line.length());
                        sawHeader = false;
                        continue;
                    }
                    sawHeader = true;
                } else if (sawHeader && name.equals("content-type")) {
                    // The only content type LSP defines is utf-8 JSON; nothing to do.
                } else {
                    garbage.onGarbage("not an LSP header: " + preview(line), line.length());
                    sawHeader = false;
                    contentLength = -1;
                }
            }
            if (contentLength > MAX_BODY) {
                garbage.onGarbage("frame of " + contentLength + " bytes exceeds the limit of " + MAX_BODY, 0);
                skipFully(contentLength);
                continue;
            }
            byte[] body = in.readNBytes(contentLength);
            if (body.length != contentLength) {
                garbage.onGarbage("stream ended inside a frame body of " + contentLength + " bytes", body.length);
                return null;
            }
            return body;
        }
    }

    private static int parseLength(String value) {
        if (value.isEmpty() || value.length() > 10) {
            return -1;
        }
        long n = 0;
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            n = n * 10 + (c - '0');
        }
        return n > Integer.MAX_VALUE ? -1 : (int) n;
    }

    private void skipFully(long n) throws IOException {
        while (n > 0) {
            long skipped = in.skip(n);
            if (skipped <= 0) {
                if (in.read() < 0) {
                    throw new EOFException("stream ended while skipping an oversized frame");
                }
                skipped = 1;
            }
            n -= skipped;
        }
    }

    /**
     * Reads one header line terminated by LF (an optional CR before it is dropped). A line longer than
     * {@link #MAX_HEADER_LINE} is reported and skipped up to its end. Returns null at end of stream.
     */
    private String readLine() throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream(64);
        while (true) {
            buf.reset();
            int skipped = readLineInto(buf);
            if (skipped < 0) {
                return null;
            }
            if (skipped > 0) {
                garbage.onGarbage("over-long line: " + preview(buf.toString(StandardCharsets.UTF_8)), buf.size() + skipped);
                continue;
            }
            byte[] bytes = buf.toByteArray();
            int len = bytes.length;
            if (len > 0 && bytes[len - 1] == '\r') {
                len--;
            }
            return new String(bytes, 0, len, StandardCharsets.UTF_8);
        }
    }

    /** Reads up to LF into buf (at most MAX_HEADER_LINE bytes); returns the bytes dropped, or -1 at end. */
    private int readLineInto(ByteArrayOutputStream buf) throws IOException {
        int skipped = 0;
        while (true) {
            int b = in.read();
            if (b < 0) {
                if (buf.size() > 0 || skipped > 0) {
                    garbage.onGarbage("stream ended inside a line: " + preview(buf.toString(StandardCharsets.UTF_8)), buf.size() + skipped);
                }
                return -1;
            }
            if (b == '\n') {
                return skipped;
            }
            if (buf.size() < MAX_HEADER_LINE) {
                buf.write(b);
            } else {
                skipped++;
            }
        }
    }

    static String preview(String s) {
        String oneLine = s.replace("\r", "\\r").replace("\n", "\\n");
        return oneLine.length() <= 80 ? '"' + oneLine + '"' : '"' + oneLine.substring(0, 80) + "\"...";
    }
}
