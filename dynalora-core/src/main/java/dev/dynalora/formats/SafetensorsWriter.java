package dev.dynalora.formats;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonGenerator;
import dev.dynalora.UserInputException;
import dev.dynalora.tensor.Tensor;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * Writes float32 tensors as a safetensors file, laid out byte for byte as the reference (Rust) library lays
 * it out, so files we write load anywhere and the same tensors always give the same bytes:
 * <ul>
 *   <li>tensors sorted by descending dtype alignment, then by name (all ours are F32, so by name; compared by
 *       code point, which is the UTF-8 byte order Rust's String ordering uses);</li>
 *   <li>compact JSON header, {@code __metadata__} first, padded with spaces to a multiple of 8 bytes so the
 *       data section starts aligned;</li>
 *   <li>data packed back to back, little-endian.</li>
 * </ul>
 * One deliberate difference: metadata keys are written sorted (the reference writes them in HashMap order,
 * which changes from run to run).
 *
 * <p>The file is written through {@link AtomicFiles}: it appears whole or not at all.
 */
public final class SafetensorsWriter {
    private static final String METADATA_KEY = "__metadata__";

    private SafetensorsWriter() {
    }

    /** {@link #write(Path, Map, Map)} without metadata. */
    public static void write(Path file, Map<String, Tensor> tensors) {
        write(file, tensors, null);
    }

    /**
     * Writes {@code tensors} (as F32) and {@code metadata} (may be null or empty: then no {@code __metadata__}
     * entry is written) to {@code file}, atomically.
     *
     * @throws IllegalArgumentException for a null or reserved tensor name, a null tensor or metadata entry
     * @throws UserInputException if the file cannot be written
     */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(tensors, "tensors");
        List<Map.Entry<String, Tensor>> sorted = sortedTensors(tensors);
        byte[] header = header(sorted, metadata);
        AtomicFiles.writeAtomically(file, out -> {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            len.putLong(header.length);
            out.write(len.array());
            out.write(header);
            ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
            FloatBuffer floats = buf.asFloatBuffer();
            for (Map.Entry<String, Tensor> e : sorted) {
                float[] data = e.getValue().data();
                for (int off = 0; off < data.length; ) {
                    int n = Math.min(floats.capacity(), data.length - off);
                    floats.clear();
                    floats.put(data, off, n);
                    out.write(buf.array(), 0, n * Float.BYTES);
                    off += n;
                }
            }
        });
    }

    /** Tensors in file order: by name, code point by code point (see the class comment). */
    static List<Map.Entry<String, Tensor>> sortedTensors(Map<String, Tensor> tensors) {
        TreeMap<String, Tensor> byName = new TreeMap<>(SafetensorsWriter::compareCodePoints);
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            String name = e.getKey();
            if (name == null) {
                throw new IllegalArgumentException("null tensor name");
            }
            if (METADATA_KEY.equals(name)) {
                throw new IllegalArgumentException("tensor name " + METADATA_KEY + " is reserved by the format");
            }
            if (e.getValue() == null) {
                throw new IllegalArgumentException("tensor " + FormatErrors.quote(name) + " is null");
            }
            byName.put(name, e.getValue());
        }
        return new ArrayList<>(byName.entrySet());
    }

    /**
     * The padded JSON header for tensors already in file order. Package-private so tests can check the
     * layout without parsing a whole file.
     */
    static byte[] header(List<Map.Entry<String, Tensor>> sorted, Map<String, String> metadata) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (JsonGenerator g = Json.MAPPER.getFactory().createGenerator(bytes, JsonEncoding.UTF8)) {
            g.writeStartObject();
            if (metadata != null && !metadata.isEmpty()) {
                g.writeObjectFieldStart(METADATA_KEY);
                TreeMap<String, String> sortedMeta = new TreeMap<>(SafetensorsWriter::compareCodePoints);
                for (Map.Entry<String, String> m : metadata.entrySet()) {
                    if (m.getKey() == null || m.getValue() == null) {
                        throw new IllegalArgumentException("null key or value in safetensors metadata");
                    }
                    sortedMeta.put(m.getKey(), m.getValue());
                }
                for (Map.Entry<String, String> m : sortedMeta.entrySet()) {
                    g.writeStringField(m.getKey(), m.getValue());
                }
                g.writeEndObject();
            }
            long offset = 0;
            for (Map.Entry<String, Tensor> e : sorted) {
                long bytesLen = (long) e.getValue().size() * Float.BYTES;
                g.writeObjectFieldStart(e.getKey());
                g.writeStringField("dtype", "F32");
                g.writeArrayFieldStart("shape");
                for (int d : e.getValue().shape()) {
                    g.writeNumber(d);
                }
                g.writeEndArray();
                g.writeArrayFieldStart("data_offsets");
                g.writeNumber(offset);
                g.writeNumber(offset + bytesLen);
                g.writeEndArray();
                g.writeEndObject();
                offset += bytesLen;
            }
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException("writing JSON to memory failed", e); // cannot happen for a byte array
        }
        int pad = (8 - bytes.size() % 8) % 8;
        for (int i = 0; i < pad; i++) {
            bytes.write(' ');
        }
        if (bytes.size() > SafetensorsReader.MAX_HEADER_BYTES) {
            throw new UserInputException("safetensors header of " + bytes.size() + " bytes exceeds the "
                    + SafetensorsReader.MAX_HEADER_BYTES + "-byte limit readers enforce (too many tensors?)");
        }
        return bytes.toByteArray();
    }

    /** Orders strings by Unicode code point, i.e. by their UTF-8 bytes (String.compareTo uses UTF-16 units). */
    static int compareCodePoints(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i);
            int cb = b.codePointAt(j);
            if (ca != cb) {
                return Integer.compare(ca, cb);
            }
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }
}
