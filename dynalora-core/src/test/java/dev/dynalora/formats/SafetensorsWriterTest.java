package dev.dynalora.formats;

import dev.dynalora.UserInputException;
import dev.dynalora.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static dev.dynalora.formats.UserErrors.assertUserError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The writer: round trips, the reference library's byte layout, and all-or-nothing writes. */
class SafetensorsWriterTest {
    @TempDir
    Path dir;

    private static Tensor random(Random rnd, int... shape) {
        Tensor t = Tensor.zeros(shape);
        float[] d = t.data();
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) rnd.nextGaussian();
        }
        return t;
    }

    @Test
    void roundTrip() {
        Random rnd = new Random(42);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("lora.B", random(rnd, 8, 4));
        tensors.put("lora.A", random(rnd, 4, 16));
        tensors.put("scalar", new Tensor(new int[0], new float[] {Float.NaN}));
        tensors.put("empty", Tensor.zeros(0, 3));
        tensors.put("special", new Tensor(new int[] {4}, new float[] {-0.0f, Float.POSITIVE_INFINITY,
                Float.MIN_VALUE, Float.MAX_VALUE}));
        Path p = dir.resolve("adapter.safetensors");
        SafetensorsWriter.write(p, tensors, Map.of("rank", "4", "format", "pt"));
        try (SafetensorsReader r = SafetensorsReader.open(p)) {
            assertEquals(tensors.keySet(), r.names());
            assertEquals(Map.of("rank", "4", "format", "pt"), r.metadata());
            for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
                assertEquals("F32", r.dtype(e.getKey()));
                assertArrayEquals(e.getValue().shape(), r.shape(e.getKey()), e.getKey());
                float[] expected = e.getValue().data();
                float[] got = r.readFloat(e.getKey());
                assertEquals(expected.length, got.length);
                for (int i = 0; i < expected.length; i++) {
                    // Bit-exact, NaN and -0.0 included.
                    assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(got[i]));
                }
            }
        }
    }

    @Test
    void layoutMatchesTheReferenceLibrary() throws IOException {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("b", new Tensor(new int[] {1}, new float[] {2f}));
        tensors.put("a", new Tensor(new int[] {2}, new float[] {0f, 1f}));
        Path p = dir.resolve("x.safetensors");
        SafetensorsWriter.write(p, tensors, Map.of("z", "1", "format", "pt"));
        byte[] bytes = Files.readAllBytes(p);
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long n = b.getLong(0);
        assertEquals(0, n % 8, "header padded to a multiple of 8 so the data section is aligned");
        String header = new String(bytes, 8, (int) n, StandardCharsets.UTF_8);
        // Compact JSON, metadata first (sorted), tensors by name, padded with spaces: what the Rust
        // serialize() produces for the same input (modulo its HashMap order of metadata keys).
        String expected = "{\"__metadata__\":{\"format\":\"pt\",\"z\":\"1\"},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}";
        assertEquals(expected, header.stripTrailing());
        assertTrue(header.substring(expected.length()).chars().allMatch(c -> c == ' '));
        assertEquals(8 + n + 12, bytes.length);
        assertEquals(0f, b.getFloat(8 + (int) n));
        assertEquals(1f, b.getFloat(8 + (int) n + 4));
        assertEquals(2f, b.getFloat(8 + (int) n + 8));
    }

    @Test
    void outputIsDeterministicWhateverTheMapOrder() throws IOException {
        Random rnd = new Random(1);
        Tensor x = random(rnd, 3, 3);
        Tensor y = random(rnd, 5);
        Map<String, Tensor> m1 = new LinkedHashMap<>();
        m1.put("x", x);
        m1.put("y", y);
        Map<String, Tensor> m2 = new LinkedHashMap<>();
        m2.put("y", y);
        m2.put("x", x);
        Path p1 = dir.resolve("1.safetensors");
        Path p2 = dir.resolve("2.safetensors");
        Map<String, String> meta1 = new LinkedHashMap<>();
        meta1.put("a", "1");
        meta1.put("b", "2");
        Map<String, String> meta2 = new LinkedHashMap<>();
        meta2.put("b", "2");
        meta2.put("a", "1");
        SafetensorsWriter.write(p1, m1, meta1);
        SafetensorsWriter.write(p2, m2, meta2);
        assertArrayEquals(Files.readAllBytes(p1), Files.readAllBytes(p2));
    }

    @Test
    void namesSortByCodePointLikeRust() {
        // U+FF01 is above any surrogate pair in UTF-16 order, but below U+1F600 in code point (UTF-8) order.
        assertTrue(SafetensorsWriter.compareCodePoints("\uFF01", "\uD83D\uDE00") < 0);
        assertTrue("\uFF01".compareTo("\uD83D\uDE00") > 0);
        assertTrue(SafetensorsWriter.compareCodePoints("a", "ab") < 0);
        assertEquals(0, SafetensorsWriter.compareCodePoints("ab", "ab"));
    }

    @Test
    void noMetadataMeansNoMetadataEntry() throws IOException {
        Path p = dir.resolve("m.safetensors");
        SafetensorsWriter.write(p, Map.of("x", Tensor.zeros(1)));
        try (SafetensorsReader r = SafetensorsReader.open(p)) {
            assertTrue(r.metadata().isEmpty());
        }
        assertFalse(new String(Files.readAllBytes(p), StandardCharsets.UTF_8).contains("__metadata__"));
    }

    @Test
    void rejectsReservedAndNullNames() {
        Path p = dir.resolve("r.safetensors");
        assertThrows(IllegalArgumentException.class,
                () -> SafetensorsWriter.write(p, Map.of("__metadata__", Tensor.zeros(1))));
        Map<String, Tensor> withNull = new LinkedHashMap<>();
        withNull.put("x", null);
        assertThrows(IllegalArgumentException.class, () -> SafetensorsWriter.write(p, withNull));
        assertFalse(Files.exists(p));
    }

    @Test
    void replacesAnExistingFileAndLeavesNoTemporaryFiles() throws IOException {
        Path p = dir.resolve("out.safetensors");
        Files.writeString(p, "old contents");
        SafetensorsWriter.write(p, Map.of("x", Tensor.zeros(2)));
        try (SafetensorsReader r = SafetensorsReader.open(p)) {
            assertArrayEquals(new int[] {2}, r.shape("x"));
        }
        assertEquals(List.of("out.safetensors"), listNames());
    }

    @Test
    void aFailedWriteLeavesTheOldFileIntact() throws IOException {
        Path p = dir.resolve("report.json");
        Files.writeString(p, "old");
        RuntimeException boom = new RuntimeException("boom");
        RuntimeException thrown = assertThrows(RuntimeException.class, () -> AtomicFiles.writeAtomically(p, out -> {
            out.write("partial new cont".getBytes(StandardCharsets.UTF_8));
            throw boom;
        }));
        assertTrue(thrown == boom, "the body's exception propagates unchanged");
        assertEquals("old", Files.readString(p));
        assertEquals(List.of("report.json"), listNames());

        assertThrows(UserInputException.class, () -> AtomicFiles.writeAtomically(p, out -> {
            throw new IOException("disk full");
        }));
        assertEquals("old", Files.readString(p));
        assertEquals(List.of("report.json"), listNames());
    }

    @Test
    void atomicWriteCreatesParentsAndToleratesTheBodyClosingTheStream() throws IOException {
        Path p = dir.resolve("a/b/c.json");
        AtomicFiles.writeAtomically(p, out -> {
            out.write("{}".getBytes(StandardCharsets.UTF_8));
            out.close();
        });
        assertEquals("{}", Files.readString(p));
        AtomicFiles.writeString(p, "{\"x\":1}");
        assertEquals("{\"x\":1}", Files.readString(p));
    }

    @Test
    void atomicWriteErrorsAreOneLineUserErrors() throws IOException {
        assertUserError(() -> AtomicFiles.writeString(dir, "x"), dir.toString(), "directory");
        Path blocker = dir.resolve("file");
        Files.writeString(blocker, "x");
        // The parent "directory" is a regular file: cannot create it.
        assertUserError(() -> AtomicFiles.writeString(blocker.resolve("child.json"), "x"), "child.json");
    }

    @Test
    void writtenFileHasOrdinaryPermissions() throws IOException {
        // A temp file made with Files.createTempFile would be 0600 and the rename would keep that.
        Path p = dir.resolve("perm.safetensors");
        SafetensorsWriter.write(p, Map.of("x", Tensor.zeros(1)));
        Path q = dir.resolve("plain");
        Files.writeString(q, "x");
        if (p.getFileSystem().supportedFileAttributeViews().contains("posix")) {
            assertEquals(Files.getPosixFilePermissions(q), Files.getPosixFilePermissions(p));
        }
    }

    private List<String> listNames() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(x -> x.getFileName().toString()).sorted().collect(Collectors.toList());
        }
    }
}
