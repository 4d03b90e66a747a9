package dev.dynalora.formats;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import dev.dynalora.UserInputException;
import dev.dynalora.tensor.Tensor;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.DoubleBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.MappedByteBuffer;
import java.nio.ShortBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Reads a <a href="https://github.com/huggingface/safetensors">safetensors</a> file: an 8-byte little-endian
 * header length N, N bytes of JSON describing each tensor (dtype, shape, byte range in the data section),
 * then the data section.
 *
 * <p>The file is untrusted input. {@link #open} validates the whole header before anything else happens, and
 * every failure is a {@link UserInputException} with a one-line message naming the file (and the tensor): no
 * number from the file is used to size an allocation or a read before it has been checked against the file
 * size. Tensor bytes are memory-mapped per tensor, in chunks, so files over 2 GiB (the limit of one
 * MappedByteBuffer) work.
 *
 * <p>Like the reference implementation, tensors may overlap or leave gaps between them; what is rejected is
 * any byte range outside the data section, or one whose length disagrees with dtype and shape.
 *
 * <p>Reads may run concurrently from several threads; {@link #close} must not race with them.
 */
public final class SafetensorsReader implements AutoCloseable {
    /** The reference implementation's limit (safetensors MAX_HEADER_SIZE); a larger header means corruption. */
    public static final long MAX_HEADER_BYTES = 100_000_000L;

    /** Bytes mapped at a time: a multiple of 8 so no element of any dtype straddles two chunks. */
    private static final long CHUNK_BYTES = 1L << 30;

    private static final String METADATA_KEY = "__metadata__";

    /** The dtypes of the safetensors format with a whole number of bytes per element. */
    private enum DType {
        BOOL(1), U8(1), I8(1), F8_E5M2(1), F8_E4M3(1), F8_E8M0(1), I16(2), U16(2), F16(2), BF16(2),
        I32(4), U32(4), F32(4), F64(8), I64(8), U64(8), C64(8);

        final int size;

        DType(int size) {
            this.size = size;
        }

        static DType parse(String s) {
            for (DType d : values()) {
                if (d.name().equals(s)) {
                    return d;
                }
            }
            return null;
        }
    }

    private static final class Entry {
        final DType dtype;
        final int[] shape;
        final long numel;
        final long begin; // relative to the start of the data section
        final long end;

        Entry(DType dtype, int[] shape, long numel, long begin, long end) {
            this.dtype = dtype;
            this.shape = shape;
            this.numel = numel;
            this.begin = begin;
            this.end = end;
        }
    }

    private final Path path;
    private final String label;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, Entry> entries;
    private final Set<String> names;
    private final Map<String, String> metadata;
    private volatile boolean closed;

    private SafetensorsReader(Path path, FileChannel channel, long dataStart, Map<String, Entry> entries,
            Map<String, String> metadata) {
        this.path = path;
        this.label = path.toString();
        this.channel = channel;
        this.dataStart = dataStart;
        this.entries = entries;
        this.names = Collections.unmodifiableSet(new LinkedHashSet<>(entries.keySet()));
        this.metadata = Collections.unmodifiableMap(metadata);
    }

    /**
     * Opens and validates {@code file}. The caller must close the reader.
     *
     * @throws UserInputException if the file is missing, unreadable or not a valid safetensors file
     */
    public static SafetensorsReader open(Path file) {
        String label = file.toString();
        if (Files.isDirectory(file)) {
            throw new UserInputException(label + ": is a directory, expected a .safetensors file");
        }
        if (!Files.exists(file)) {
            throw new UserInputException(label + ": no such file");
        }
        FileChannel ch;
        try {
            ch = FileChannel.open(file, StandardOpenOption.READ);
        } catch (IOException e) {
            throw new UserInputException(label + ": cannot open: " + FormatErrors.describe(e), e);
        }
        try {
            return parse(file, label, ch);
        } catch (RuntimeException | Error e) {
            closeQuietly(ch);
            throw e;
        } catch (IOException e) {
            closeQuietly(ch);
            throw new UserInputException(label + ": cannot read: " + FormatErrors.describe(e), e);
        }
    }

    private static SafetensorsReader parse(Path file, String label, FileChannel ch) throws IOException {
        long size = ch.size();
        if (size < 8) {
            throw new UserInputException(label + ": not a safetensors file: " + size
                    + " bytes, too short for the 8-byte header length");
        }
        ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(ch, lenBuf, 0);
        long n = lenBuf.getLong(0); // an unsigned u64 in the format: negative here means >= 2^63
        if (n < 0 || n > MAX_HEADER_BYTES) {
            throw new UserInputException(label + ": not a safetensors file or corrupt: header length "
                    + Long.toUnsignedString(n) + " exceeds the " + MAX_HEADER_BYTES + "-byte limit");
        }
        if (n > size - 8) {
            throw new UserInputException(label + ": truncated or not a safetensors file: header length " + n
                    + " runs past the end of the file (" + size + " bytes)");
        }
        if (n == 0) {
            throw new UserInputException(label + ": corrupt safetensors file: the JSON header is empty");
        }
        byte[] raw = new byte[(int) n]; // n <= MAX_HEADER_BYTES and <= file size: safe to allocate
        readFully(ch, ByteBuffer.wrap(raw), 8);

        String text;
        try {
            // Strict decoding: a lenient decoder would replace bad bytes with U+FFFD and hide corruption.
            CharBuffer chars = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(raw));
            text = chars.toString();
        } catch (CharacterCodingException e) {
            throw new UserInputException(label + ": corrupt safetensors file: the header is not valid UTF-8", e);
        }
        JsonNode root;
        try {
            root = Json.MAPPER.readTree(text);
        } catch (JsonProcessingException e) {
            throw new UserInputException(label + ": corrupt safetensors file: the header is not valid JSON: "
                    + FormatErrors.describe(e), e);
        }
        if (root == null || !root.isObject()) {
            throw new UserInputException(label + ": corrupt safetensors file: the header is not a JSON object");
        }

        long dataSize = size - 8 - n;
        Map<String, Entry> entries = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> field = it.next();
            String name = field.getKey();
            if (METADATA_KEY.equals(name)) {
                parseMetadata(label, field.getValue(), metadata);
            } else {
                entries.put(name, parseEntry(label, name, field.getValue(), dataSize));
            }
        }
        return new SafetensorsReader(file, ch, 8 + n, entries, metadata);
    }

    private static void parseMetadata(String label, JsonNode node, Map<String, String> out) {
        if (!node.isObject()) {
            throw new UserInputException(label + ": corrupt safetensors header: " + METADATA_KEY
                    + " must be an object of strings");
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().isTextual()) {
                throw new UserInputException(label + ": corrupt safetensors header: " + METADATA_KEY + " key "
                        + FormatErrors.quote(e.getKey()) + " must have a string value");
            }
            out.put(e.getKey(), e.getValue().textValue());
        }
    }

    private static Entry parseEntry(String label, String name, JsonNode node, long dataSize) {
        String where = label + ": tensor " + FormatErrors.quote(name) + ": ";
        if (!node.isObject()) {
            throw new UserInputException(where + "header entry is not an object");
        }
        JsonNode dtypeNode = node.get("dtype");
        if (dtypeNode == null || !dtypeNode.isTextual()) {
            throw new UserInputException(where + "missing or non-string \"dtype\"");
        }
        DType dtype = DType.parse(dtypeNode.textValue());
        if (dtype == null) {
            throw new UserInputException(where + "unknown dtype " + FormatErrors.quote(dtypeNode.textValue())
                    + " (known: " + Arrays.toString(DType.values()) + ")");
        }

        JsonNode shapeNode = node.get("shape");
        if (shapeNode == null || !shapeNode.isArray()) {
            throw new UserInputException(where + "\"shape\" must be a list of non-negative integers, got "
                    + snippet(shapeNode));
        }
        int[] shape = new int[shapeNode.size()]; // bounded by the header size, which is validated
        long numel = 1;
        boolean overflow = false;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = shapeNode.get(i);
            if (!d.isIntegralNumber() || !d.canConvertToLong() || d.longValue() < 0) {
                throw new UserInputException(where + "\"shape\" must be a list of non-negative integers, got "
                        + snippet(shapeNode));
            }
            if (d.longValue() > Integer.MAX_VALUE) {
                throw new UserInputException(where + "dimension " + d.longValue() + " in shape "
                        + snippet(shapeNode) + " is too large (at most " + Integer.MAX_VALUE + ")");
            }
            shape[i] = (int) d.longValue();
            if (!overflow) {
                long hi = Math.multiplyHigh(numel, shape[i]);
                long lo = numel * shape[i];
                if (hi != 0 || lo < 0) {
                    overflow = true; // keep scanning: a later 0 dimension would still make it empty
                } else {
                    numel = lo;
                }
            }
        }
        if (overflow && Arrays.stream(shape).noneMatch(x -> x == 0)) {
            throw new UserInputException(where + "shape " + shapeText(shape) + " has too many elements");
        }
        if (overflow) {
            numel = 0;
        }

        JsonNode off = node.get("data_offsets");
        if (off == null || !off.isArray() || off.size() != 2 || !isNonNegativeInteger(off.get(0))
                || !isNonNegativeInteger(off.get(1))) {
            throw new UserInputException(where + "\"data_offsets\" must be [begin, end] with non-negative integers, got "
                    + snippet(off));
        }
        // Offsets too large for a long are certainly past the end of any file.
        long begin = off.get(0).canConvertToLong() ? off.get(0).longValue() : Long.MAX_VALUE;
        long end = off.get(1).canConvertToLong() ? off.get(1).longValue() : Long.MAX_VALUE;
        if (begin > end) {
            throw new UserInputException(where + "data_offsets " + snippet(off) + " end before they begin");
        }
        if (end > dataSize) {
            throw new UserInputException(where + "data_offsets " + snippet(off) + " lie outside the data section ("
                    + dataSize + " bytes); the file is truncated or corrupt");
        }
        long expected;
        try {
            expected = Math.multiplyExact(numel, (long) dtype.size);
        } catch (ArithmeticException e) {
            expected = -1; // cannot match any in-file range
        }
        if (expected != end - begin) {
            throw new UserInputException(where + "dtype " + dtype + " with shape " + shapeText(shape)
                    + " needs " + (expected < 0 ? "more than 2^63" : String.valueOf(expected))
                    + " bytes but data_offsets " + snippet(off) + " span " + (end - begin));
        }
        return new Entry(dtype, shape, numel, begin, end);
    }

    private static boolean isNonNegativeInteger(JsonNode n) {
        return n != null && n.isIntegralNumber() && n.bigIntegerValue().signum() >= 0;
    }

    /** A shape from the file for an error message, cut after 8 dimensions: a corrupt header may hold thousands. */
    private static String shapeText(int[] shape) {
        if (shape.length <= 8) {
            return Arrays.toString(shape);
        }
        String head = Arrays.toString(Arrays.copyOf(shape, 8));
        return head.substring(0, head.length() - 1) + ", ... (" + shape.length + " dimensions)]";
    }

    /** A JSON value from the header for an error message: one line, cut if long. */
    private static String snippet(JsonNode n) {
        if (n == null) {
            return "nothing";
        }
        String s = n.toString();
        return s.length() > 80 ? s.substring(0, 80) + "..." : s;
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        long pos = position;
        while (buf.hasRemaining()) {
            int r = ch.read(buf, pos);
            if (r < 0) {
                throw new EOFException("the file ended early (was it truncated while being read?)");
            }
            pos += r;
        }
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // Nothing to do: we are already reporting a more useful error.
        }
    }

    /** The file this reader reads. */
    public Path path() {
        return path;
    }

    /** Tensor names in the order of the header (for files written by the reference library: data order). */
    public Set<String> names() {
        return names;
    }

    public boolean has(String name) {
        return entries.containsKey(name);
    }

    /** The {@code __metadata__} string map (empty when the file has none). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** The shape of {@code name} (a copy). */
    public int[] shape(String name) {
        return entry(name).shape.clone();
    }

    /** The dtype of {@code name} as the file spells it: "F32", "F16", "BF16", "I64", ... */
    public String dtype(String name) {
        return entry(name).dtype.name();
    }

    /** The number of elements of {@code name}. */
    public long numel(String name) {
        return entry(name).numel;
    }

    /**
     * The values of {@code name} as float32, converted from the stored dtype: floats of every width (F64 is
     * rounded), integers and booleans (exact up to 2^24). Complex C64 is refused.
     *
     * @throws UserInputException if there is no such tensor, it cannot be converted, or it cannot be read
     */
    public float[] readFloat(String name) {
        return readFloat(name, CHUNK_BYTES);
    }

    /** {@link #readFloat(String)} mapping at most chunkBytes (a multiple of 8) at a time; tests use small chunks. */
    float[] readFloat(String name, long chunkBytes) {
        if (chunkBytes <= 0 || chunkBytes % 8 != 0) {
            throw new IllegalArgumentException("chunk size must be a positive multiple of 8: " + chunkBytes);
        }
        ensureOpen();
        Entry e = entry(name);
        if (e.dtype == DType.C64) {
            throw new UserInputException(label + ": tensor " + FormatErrors.quote(name)
                    + ": dtype C64 (complex) cannot be converted to float32");
        }
        if (e.numel > Integer.MAX_VALUE - 8) {
            throw new UserInputException(label + ": tensor " + FormatErrors.quote(name) + " has " + e.numel
                    + " elements, too many for one Java array");
        }
        // Safe: numel * dtype.size == end - begin was checked against the file size in open().
        float[] out = new float[(int) e.numel];
        try {
            long pos = dataStart + e.begin;
            long remaining = e.end - e.begin;
            int off = 0;
            while (remaining > 0) {
                long len = Math.min(remaining, chunkBytes);
                MappedByteBuffer map = channel.map(FileChannel.MapMode.READ_ONLY, pos, len);
                map.order(ByteOrder.LITTLE_ENDIAN);
                int count = (int) (len / e.dtype.size);
                convert(e.dtype, map, out, off, count);
                off += count;
                pos += len;
                remaining -= len;
            }
        } catch (IOException ex) {
            throw new UserInputException(label + ": cannot read tensor " + FormatErrors.quote(name) + ": "
                    + FormatErrors.describe(ex), ex);
        }
        return out;
    }

    /** {@link #readFloat} as a {@link Tensor} with the stored shape. */
    public Tensor read(String name) {
        int[] shape = entry(name).shape;
        return new Tensor(shape, readFloat(name));
    }

    /**
     * {@link #read}, but first checks that the stored shape is {@code expectedShape}: the usual way to load a
     * weight, so that a checkpoint that does not fit the config fails with a message naming the tensor
     * instead of an index error deep in a kernel.
     */
    public Tensor readChecked(String name, int... expectedShape) {
        int[] shape = entry(name).shape;
        if (!Arrays.equals(shape, expectedShape)) {
            throw new UserInputException(label + ": tensor " + FormatErrors.quote(name) + " has shape "
                    + shapeText(shape) + ", expected " + Arrays.toString(expectedShape));
        }
        return read(name);
    }

    /** Every tensor, converted to float32, in {@link #names()} order. */
    public Map<String, Tensor> readAll() {
        Map<String, Tensor> all = new LinkedHashMap<>();
        for (String name : names) {
            all.put(name, read(name));
        }
        return all;
    }

    private Entry entry(String name) {
        Entry e = entries.get(name);
        if (e == null) {
            throw new UserInputException(label + ": no tensor named " + FormatErrors.quote(name) + " (the file has "
                    + entries.size() + " tensors)");
        }
        return e;
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("SafetensorsReader for " + label + " is closed");
        }
    }

    private static void convert(DType dtype, ByteBuffer b, float[] out, int off, int n) {
        switch (dtype) {
            case F32: {
                b.asFloatBuffer().get(out, off, n);
                break;
            }
            case F16: {
                ShortBuffer s = b.asShortBuffer();
                for (int i = 0; i < n; i++) {
                    out[off + i] = Float16.toFloat(s.get(i));
                }
                break;
            }
            case BF16: {
                ShortBuffer s = b.asShortBuffer();
                for (int i = 0; i < n; i++) {
                    out[off + i] = Float16.bf16ToFloat(s.get(i));
                }
                break;
            }
            case F64: {
                DoubleBuffer d = b.asDoubleBuffer();
                for (int i = 0; i < n; i++) {
                    out[off + i] = (float) d.get(i);
                }
                break;
            }
            case F8_E5M2:
                for (int i = 0; i < n; i++) {
                    out[off + i] = Float16.e5m2ToFloat(b.get(i));
                }
                break;
            case F8_E4M3:
                for (int i = 0; i < n; i++) {
                    out[off + i] = Float16.e4m3ToFloat(b.get(i));
                }
                break;
            case F8_E8M0:
                for (int i = 0; i < n; i++) {
                    out[off + i] = Float16.e8m0ToFloat(b.get(i));
                }
                break;
            case BOOL:
                for (int i = 0; i < n; i++) {
                    out[off + i] = b.get(i) != 0 ? 1f : 0f;
                }
                break;
            case U8:
                for (int i = 0; i < n; i++) {
                    out[off + i] = b.get(i) & 0xff;
                }
                break;
            case I8:
                for (int i = 0; i < n; i++) {
                    out[off + i] = b.get(i);
                }
                break;
            case I16: {
                ShortBuffer s = b.asShortBuffer();
                for (int i = 0; i < n; i++) {
                    out[off + i] = s.get(i);
                }
                break;
            }
            case U16: {
                ShortBuffer s = b.asShortBuffer();
                for (int i = 0; i < n; i++) {
                    out[off + i] = s.get(i) & 0xffff;
                }
                break;
            }
            case I32: {
                IntBuffer s = b.asIntBuffer();
                for (int i = 0; i < n; i++) {
                    out[off + i] = s.get(i);
                }
                break;
            }
            case U32: {
                IntBuffer s = b.asIntBuffer();
                for (int i = 0; i < n; i++) {
                    out[off + i] = Integer.toUnsignedLong(s.get(i));
                }
                break;
            }
            case I64: {
                LongBuffer s = b.asLongBuffer();
                for (int i = 0; i < n; i++) {
                    out[off + i] = s.get(i);
                }
                break;
            }
            case U64: {
                LongBuffer s = b.asLongBuffer();
                for (int i = 0; i < n; i++) {
                    long v = s.get(i);
                    // Unsigned to float with correct rounding: halve (keeping the sticky low bit), convert, double.
                    out[off + i] = v >= 0 ? (float) v : ((float) ((v >>> 1) | (v & 1))) * 2f;
                }
                break;
            }
            default:
                throw new IllegalStateException("unhandled dtype " + dtype.name().toLowerCase(Locale.ROOT));
        }
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            closeQuietly(channel);
        }
    }

    @Override
    public String toString() {
        return "SafetensorsReader[" + label + ", " + entries.size() + " tensors]";
    }
}
