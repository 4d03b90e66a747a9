package dev.dynalora.formats;

import dev.dynalora.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static dev.dynalora.formats.UserErrors.assertUserError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The reader against hand-made files, valid and corrupt: every corruption must be a one-line user error. */
class SafetensorsReaderTest {
    @TempDir
    Path dir;

    /** A file with the given header length field, header bytes and data bytes, exactly as given. */
    private Path raw(String name, long headerLength, byte[] header, byte[] data) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerLength).put(header).put(data);
        Path p = dir.resolve(name);
        Files.write(p, b.array());
        return p;
    }

    /** A well-formed envelope (correct length field) around the given JSON header and data bytes. */
    private Path file(String json, byte[] data) throws IOException {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        return raw("t.safetensors", h.length, h, data);
    }

    private static byte[] floats(float... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) {
            b.putFloat(f);
        }
        return b.array();
    }

    private static byte[] halves(int... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (int s : v) {
            b.putShort((short) s);
        }
        return b.array();
    }

    private static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        ByteBuffer b = ByteBuffer.allocate(n);
        for (byte[] p : parts) {
            b.put(p);
        }
        return b.array();
    }

    @Test
    void readsAWellFormedFileWithSeveralDtypes() throws IOException {
        String json = "{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                + "\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[16,22]},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[22,26]},"
                + "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[26,30]},"
                + "\"e\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[30,30]},"
                + "\"i\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[30,46]}}";
        ByteBuffer longs = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-3).putLong(1L << 40);
        byte[] data = concat(floats(1, 2, 3, 4), halves(0x3c00, 0xc000, 0x0001), halves(0x3f80, 0x4040),
                floats(7.5f), longs.array());
        try (SafetensorsReader r = SafetensorsReader.open(file(json, data))) {
            assertEquals(java.util.List.of("a", "h", "b", "s", "e", "i"), java.util.List.copyOf(r.names()));
            assertEquals(Map.of("format", "pt"), r.metadata());
            assertTrue(r.has("a"));
            assertFalse(r.has("__metadata__"));
            assertArrayEquals(new int[] {2, 2}, r.shape("a"));
            assertEquals("F16", r.dtype("h"));
            assertArrayEquals(new float[] {1, 2, 3, 4}, r.readFloat("a"));
            assertArrayEquals(new float[] {1, -2, 0x1p-24f}, r.readFloat("h"));
            assertArrayEquals(new float[] {1, 3}, r.readFloat("b"));
            Tensor s = r.read("s");
            assertEquals(0, s.rank());
            assertArrayEquals(new float[] {7.5f}, s.data());
            assertEquals(0, r.read("e").size());
            assertArrayEquals(new int[] {0, 5}, r.shape("e"));
            assertArrayEquals(new float[] {-3, 0x1p40f}, r.readFloat("i"));
            assertEquals(6, r.readAll().size());
        }
    }

    @Test
    void chunkedMappingGivesTheSameValues() throws IOException {
        // Files over 2 GiB are mapped in pieces; exercise the piecing with tiny chunks and odd lengths.
        String json = "{\"f\":{\"dtype\":\"F32\",\"shape\":[7],\"data_offsets\":[0,28]},"
                + "\"h\":{\"dtype\":\"F16\",\"shape\":[5],\"data_offsets\":[28,38]}}";
        byte[] data = concat(floats(1, 2, 3, 4, 5, 6, 7), halves(0x3c00, 0x4000, 0x4200, 0x4400, 0x4500));
        try (SafetensorsReader r = SafetensorsReader.open(file(json, data))) {
            for (long chunk : new long[] {8, 16, 24, 1L << 30}) {
                assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6, 7}, r.readFloat("f", chunk), "chunk " + chunk);
                assertArrayEquals(new float[] {1, 2, 3, 4, 5}, r.readFloat("h", chunk), "chunk " + chunk);
            }
        }
    }

    @Test
    void overlappingTensorsAreAllowed() throws IOException {
        // The format does not forbid aliasing (the reference reader accepts it), only out-of-bounds ranges.
        String json = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
        try (SafetensorsReader r = SafetensorsReader.open(file(json, floats(1, 2, 3)))) {
            assertArrayEquals(new float[] {1, 2}, r.readFloat("x"));
            assertArrayEquals(new float[] {2, 3}, r.readFloat("y"));
        }
    }

    @Test
    void headerPaddedWithSpacesIsAccepted() throws IOException {
        String json = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}     ";
        try (SafetensorsReader r = SafetensorsReader.open(file(json, floats(5)))) {
            assertArrayEquals(new float[] {5}, r.readFloat("x"));
        }
    }

    @Test
    void missingFileAndDirectory() {
        assertUserError(() -> SafetensorsReader.open(dir.resolve("nope.safetensors")), "nope.safetensors",
                "no such file");
        assertUserError(() -> SafetensorsReader.open(dir), dir.toString(), "directory");
    }

    @Test
    void fileShorterThanTheLengthField() throws IOException {
        Path empty = dir.resolve("empty.safetensors");
        Files.write(empty, new byte[0]);
        assertUserError(() -> SafetensorsReader.open(empty), "empty.safetensors", "too short");
        Path five = dir.resolve("five.safetensors");
        Files.write(five, new byte[] {1, 2, 3, 4, 5});
        assertUserError(() -> SafetensorsReader.open(five), "five.safetensors", "too short");
    }

    @Test
    void headerLengthPastTheEndOfTheFile() throws IOException {
        byte[] h = "{}".getBytes(StandardCharsets.UTF_8);
        Path p = raw("trunc.safetensors", 1000, h, new byte[0]);
        assertUserError(() -> SafetensorsReader.open(p), "trunc.safetensors", "header length 1000",
                "past the end");
    }

    @Test
    void absurdHeaderLengths() throws IOException {
        byte[] h = "{}".getBytes(StandardCharsets.UTF_8);
        Path huge = raw("huge.safetensors", 1L << 40, h, new byte[0]);
        assertUserError(() -> SafetensorsReader.open(huge), "huge.safetensors", "header length 1099511627776",
                "limit");
        // 2^64 - 1 as an unsigned length: must be reported as such, not as -1 or an allocation attempt.
        Path max = raw("max.safetensors", -1L, h, new byte[0]);
        assertUserError(() -> SafetensorsReader.open(max), "max.safetensors", "18446744073709551615");
        Path zero = raw("zero.safetensors", 0, new byte[0], new byte[8]);
        assertUserError(() -> SafetensorsReader.open(zero), "zero.safetensors", "empty");
    }

    @Test
    void headerThatIsNotJson() throws IOException {
        Path p = file("{\"x\": {\"dtype\": \"F32\", ", new byte[0]);
        assertUserError(() -> SafetensorsReader.open(p), "t.safetensors", "not valid JSON");
        Path garbage = file("not json at all", new byte[0]);
        assertUserError(() -> SafetensorsReader.open(garbage), "not valid JSON");
        Path trailing = file("{} {}", new byte[0]);
        assertUserError(() -> SafetensorsReader.open(trailing), "not valid JSON");
        Path dup = file("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", floats(1));
        assertUserError(() -> SafetensorsReader.open(dup), "not valid JSON", "x");
    }

    @Test
    void headerThatIsNotUtf8() throws IOException {
        byte[] h = {'{', '"', (byte) 0xff, (byte) 0xfe, '"', ':', '1', '}'};
        Path p = raw("bin.safetensors", h.length, h, new byte[0]);
        assertUserError(() -> SafetensorsReader.open(p), "bin.safetensors", "UTF-8");
    }

    @Test
    void headerThatIsNotAnObject() throws IOException {
        Path p = file("[1, 2, 3]", new byte[0]);
        assertUserError(() -> SafetensorsReader.open(p), "t.safetensors", "not a JSON object");
        Path q = file("{\"x\": 5}", new byte[0]);
        assertUserError(() -> SafetensorsReader.open(q), "'x'", "not an object");
    }

    @Test
    void unknownOrMissingDtype() throws IOException {
        Path p = file("{\"x\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", floats(1));
        assertUserError(() -> SafetensorsReader.open(p), "t.safetensors", "'x'", "unknown dtype 'F33'");
        Path q = file("{\"x\":{\"shape\":[1],\"data_offsets\":[0,4]}}", floats(1));
        assertUserError(() -> SafetensorsReader.open(q), "'x'", "dtype");
        Path lower = file("{\"x\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", floats(1));
        assertUserError(() -> SafetensorsReader.open(lower), "unknown dtype 'f32'");
    }

    @Test
    void badShapes() throws IOException {
        String[] shapes = {"[-1]", "[1.5]", "[\"2\"]", "2", "null", "[[2]]", "[1, true]"};
        for (String s : shapes) {
            Path p = file("{\"x\":{\"dtype\":\"F32\",\"shape\":" + s + ",\"data_offsets\":[0,4]}}", floats(1));
            assertUserError(() -> SafetensorsReader.open(p), "t.safetensors", "'x'", "shape");
        }
        Path noShape = file("{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", floats(1));
        assertUserError(() -> SafetensorsReader.open(noShape), "'x'", "shape");
        Path big = file("{\"x\":{\"dtype\":\"F32\",\"shape\":[3000000000],\"data_offsets\":[0,4]}}", floats(1));
        assertUserError(() -> SafetensorsReader.open(big), "'x'", "too large");
        // Element count overflowing a long must be an error, not a wrapped-around small number.
        Path overflow = file("{\"x\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,2147483647],"
                + "\"data_offsets\":[0,4]}}", floats(1));
        assertUserError(() -> SafetensorsReader.open(overflow), "'x'", "too many elements");
    }

    @Test
    void badDataOffsets() throws IOException {
        String[] offsets = {"[0]", "[0,4,8]", "[-4,0]", "[0.0,4]", "\"0-4\"", "[\"0\",4]"};
        for (String o : offsets) {
            Path p = file("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":" + o + "}}", floats(1));
            assertUserError(() -> SafetensorsReader.open(p), "t.safetensors", "'x'", "data_offsets");
        }
        Path reversed = file("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", floats(1, 2));
        assertUserError(() -> SafetensorsReader.open(reversed), "'x'", "data_offsets");
    }

    @Test
    void offsetsPastTheEndOfTheFile() throws IOException {
        // A truncated download: the header promises 4 floats, the file holds 3.
        Path p = file("{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", floats(1, 2, 3));
        assertUserError(() -> SafetensorsReader.open(p), "t.safetensors", "'x'", "outside the data section",
                "12 bytes");
        Path far = file("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[99999999999,100000000003]}}",
                floats(1));
        assertUserError(() -> SafetensorsReader.open(far), "'x'", "outside the data section");
        Path beyondLong = file("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":"
                + "[0,99999999999999999999999]}}", floats(1));
        assertUserError(() -> SafetensorsReader.open(beyondLong), "'x'", "outside the data section");
    }

    @Test
    void byteLengthDisagreeingWithDtypeAndShape() throws IOException {
        Path p = file("{\"x\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,8]}}", floats(1, 2, 3, 4));
        assertUserError(() -> SafetensorsReader.open(p), "t.safetensors", "'x'", "needs 16 bytes", "span 8");
        Path half = file("{\"x\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,16]}}", floats(1, 2, 3, 4));
        assertUserError(() -> SafetensorsReader.open(half), "'x'", "F16", "needs 8 bytes", "span 16");
    }

    @Test
    void badMetadata() throws IOException {
        Path p = file("{\"__metadata__\":{\"epochs\":3}}", new byte[0]);
        assertUserError(() -> SafetensorsReader.open(p), "t.safetensors", "__metadata__", "'epochs'");
        Path q = file("{\"__metadata__\":[\"a\"]}", new byte[0]);
        assertUserError(() -> SafetensorsReader.open(q), "__metadata__");
    }

    @Test
    void absentTensorIsAUserErrorNamingIt() throws IOException {
        try (SafetensorsReader r = SafetensorsReader.open(
                file("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", floats(1)))) {
            assertUserError(() -> r.read("encoder.layer.0.missing"), "t.safetensors", "'encoder.layer.0.missing'");
            assertUserError(() -> r.readFloat("y"), "'y'");
            assertUserError(() -> r.shape("y"), "'y'");
            assertUserError(() -> r.dtype("y"), "'y'");
            assertUserError(() -> r.readChecked("x", 2), "'x'", "[1]", "expected [2]");
            assertArrayEquals(new float[] {1}, r.readChecked("x", 1).data());
        }
    }

    @Test
    void namesWithControlCharactersStayOnOneLine() throws IOException {
        Path p = file("{\"bad\\nname\":{\"dtype\":\"X\",\"shape\":[1],\"data_offsets\":[0,4]}}", floats(1));
        assertUserError(() -> SafetensorsReader.open(p), "bad\\nname");
    }

    @Test
    void complexCannotBeReadAsFloat() throws IOException {
        try (SafetensorsReader r = SafetensorsReader.open(
                file("{\"c\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}", floats(1, 2)))) {
            assertEquals("C64", r.dtype("c"));
            assertUserError(() -> r.readFloat("c"), "'c'", "C64");
        }
    }

    @Test
    void readingAfterCloseIsAProgrammingError() throws IOException {
        SafetensorsReader r = SafetensorsReader.open(
                file("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", floats(1)));
        r.close();
        r.close(); // idempotent
        assertThrows(IllegalStateException.class, () -> r.readFloat("x"));
    }
}
