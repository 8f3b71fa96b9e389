package com.servalhq.jetbrains.core;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

public class MessageReaderTest {
    private final List<String> garbage = new ArrayList<>();

    private MessageReader reader(byte[] input) {
        return new MessageReader(new ByteArrayInputStream(input), (d, n) -> garbage.add(d));
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static String body(byte[] b) {
        return b == null ? null : new String(b, StandardCharsets.UTF_8);
    }

    /** Returns at most one byte per read, as a pipe may. */
    private static InputStream trickle(byte[] data) {
        return new InputStream() {
            int i;

            @Override
            public int read() {
                return i < data.length ? data[i++] & 0xff : -1;
            }

            @Override
            public int read(byte[] b, int off, int len) {
                if (len == 0) {
                    return 0;
                }
                int c = read();
                if (c < 0) {
                    return -1;
                }
                b[off] = (byte) c;
                return 1;
            }
        };
    }

    @Test
    public void readsConsecutiveFrames() throws IOException {
        MessageReader r = reader(bytes("Content-Length: 2\r\n\r\n{}Content-Length: 7\r\n\r\n[1,2,3]"));
        Check.equal("{}", body(r.readFrame()), "first frame");
        Check.equal("[1,2,3]", body(r.readFrame()), "second frame");
        Check.equal(null, r.readFrame(), "end of stream");
        Check.equal(List.of(), garbage, "garbage");
    }

    @Test
    public void readsFramesSplitIntoSingleBytes() throws IOException {
        JsonObject msg = new JsonObject();
        msg.addProperty("text", "héllo 😀 世界");
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        all.write(MessageWriter.frame(msg));
        all.write(MessageWriter.frame(msg));
        MessageReader r = new MessageReader(trickle(all.toByteArray()), (d, n) -> garbage.add(d));
        Check.equal(msg, JsonParser.parseString(body(r.readFrame())), "first");
        Check.equal(msg, JsonParser.parseString(body(r.readFrame())), "second");
        Check.equal(null, r.readFrame(), "end");
        Check.equal(List.of(), garbage, "garbage");
    }

    @Test
    public void contentLengthCountsUtf8Bytes() throws IOException {
        JsonObject msg = new JsonObject();
        msg.addProperty("t", "😀");
        byte[] frame = MessageWriter.frame(msg);
        String header = new String(frame, StandardCharsets.US_ASCII).split("\r\n")[0];
        Check.equal("Content-Length: 12", header, "header counts 4 bytes for the emoji");
    }

    @Test
    public void acceptsLfOnlyHeadersAndContentType() throws IOException {
        MessageReader r = reader(bytes("Content-Length: 2\nContent-Type: application/vscode-jsonrpc; charset=utf-8\n\n{}"));
        Check.equal("{}", body(r.readFrame()), "frame");
        Check.equal(List.of(), garbage, "garbage");
    }

    @Test
    public void skipsGarbageLinesAndResynchronises() throws IOException {
        MessageReader r = reader(bytes("panic: something\nstack trace line\r\nContent-Length: 2\r\n\r\n{}plain text\nContent-Length: 4\r\n\r\nnull"));
        Check.equal("{}", body(r.readFrame()), "frame after garbage");
        Check.equal("null", body(r.readFrame()), "frame after garbage between frames");
        Check.equal(3, garbage.size(), "garbage reports: " + garbage);
        Check.contains(garbage.get(0), "panic: something", "garbage preview");
    }

    @Test
    public void rejectsInvalidContentLength() throws IOException {
        MessageReader r = reader(bytes("Content-Length: abc\r\n\r\nContent-Length: -5\r\n\r\nContent-Length: 99999999999\r\n\r\nContent-Length: 2\r\n\r\n{}"));
        Check.equal("{}", body(r.readFrame()), "valid frame after invalid ones");
        Check.equal(3, garbage.size(), "one report per invalid header: " + garbage);
    }

    @Test
    public void overlongHeaderLineIsSkippedWithoutUnboundedBuffering() throws IOException {
        String longLine = "x".repeat(MessageReader.MAX_HEADER_LINE * 3) + "\n";
        MessageReader r = reader(bytes(longLine + "Content-Length: 2\r\n\r\n{}"));
        Check.equal("{}", body(r.readFrame()), "frame");
        Check.equal(1, garbage.size(), "one report");
        Check.contains(garbage.get(0), "over-long", "report");
    }

    @Test
    public void truncatedBodyEndsTheStreamWithAReport() throws IOException {
        MessageReader r = reader(bytes("Content-Length: 10\r\n\r\n{\"a\""));
        Check.equal(null, r.readFrame(), "no frame");
        Check.equal(1, garbage.size(), "reported");
        Check.contains(garbage.get(0), "inside a frame body", "report");
    }

    @Test
    public void oversizedFrameIsSkipped() throws IOException {
        int size = MessageReader.MAX_BODY + 1;
        byte[] head = bytes("Content-Length: " + size + "\r\n\r\n");
        byte[] tail = bytes("Content-Length: 2\r\n\r\n{}");
        InputStream in = new InputStream() {
            long pos;
            final long total = head.length + (long) size + tail.length;

            @Override
            public int read() {
                if (pos >= total) {
                    return -1;
                }
                long p = pos++;
                if (p < head.length) {
                    return head[(int) p];
                }
                p -= head.length;
                if (p < size) {
                    return 'z';
                }
                return tail[(int) (p - size)];
            }
        };
        MessageReader r = new MessageReader(in, (d, n) -> garbage.add(d));
        Check.equal("{}", body(r.readFrame()), "frame after the oversized one");
        Check.equal(1, garbage.size(), "reported");
        Check.contains(garbage.get(0), "exceeds the limit", "report");
    }

    @Test
    public void emptyStreamIsCleanEnd() throws IOException {
        Check.equal(null, reader(new byte[0]).readFrame(), "end");
        Check.equal(List.of(), garbage, "no garbage for a clean end");
    }

    /** Seeded random input (the fuzz corpus of this runner): the reader ends cleanly, never throws. */
    @Test
    public void randomInputNeverThrows() throws IOException {
        Random random = new Random(42);
        String[] pieces = {"Content-Length: ", "2", "12", "\r\n", "\n", "{}", "\u0000", "Content-Type: x", ":", "😀", "999999", " "};
        for (int round = 0; round < 500; round++) {
            StringBuilder sb = new StringBuilder();
            int n = random.nextInt(30);
            for (int i = 0; i < n; i++) {
                sb.append(pieces[random.nextInt(pieces.length)]);
            }
            byte[] raw = bytes(sb.toString());
            if (random.nextBoolean() && raw.length > 0) {
                raw[random.nextInt(raw.length)] = (byte) random.nextInt(256);
            }
            MessageReader r = reader(raw);
            for (int frames = 0; frames < 100 && r.readFrame() != null; frames++) {
                // Each call consumes input; 100 frames bound a 30-piece input.
            }
        }
    }
}
