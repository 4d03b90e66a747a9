package dev.dynalora.fuzz;

import org.junit.jupiter.api.Tag;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.dynalora.formats.SafetensorsReader;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;

import static dev.dynalora.fuzz.FuzzSupport.allowUserError;

/**
 * Hostile safetensors files: {@link SafetensorsReader#open} and then every tensor read as float32. Allowed
 * outcomes are success and a one-line UserInputException (see {@link FuzzSupport}). On success, no tensor may
 * have more elements than the file has bytes: a reader that sized an array by a number from the header before
 * checking it against the file would break this long before it ran out of memory.
 *
 * <p>{@link #file} takes the input as the whole file (length prefix included, so mutations also hit the 8-byte
 * header length); {@link #header} takes JSON header text up to the first 0 byte and data bytes after it and
 * writes a correct length prefix, so the fuzzer spends its time on the header's JSON.
 */
@Tag("slow")
class SafetensorsFuzzTest {
    @FuzzTest(maxDuration = "20s")
    void file(byte[] data) {
        check(FuzzSupport.write("fuzz.safetensors", data), data.length);
    }

    @FuzzTest(maxDuration = "20s")
    void header(byte[] data) {
        int cut = FuzzSupport.firstZero(data);
        int headerLen = cut < 0 ? data.length : cut;
        int dataLen = cut < 0 ? 0 : data.length - cut - 1;
        ByteBuffer b = ByteBuffer.allocate(8 + headerLen + dataLen).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerLen).put(data, 0, headerLen);
        if (cut >= 0) {
            b.put(data, cut + 1, dataLen);
        }
        check(FuzzSupport.write("fuzz-header.safetensors", b.array()), b.capacity());
    }

    static void check(Path file, long fileBytes) {
        allowUserError(() -> {
            try (SafetensorsReader r = SafetensorsReader.open(file)) {
                r.metadata();
                for (String name : r.names()) {
                    int[] shape = r.shape(name);
                    long numel = r.numel(name);
                    r.dtype(name);
                    long product = 1;
                    for (int d : shape) {
                        product = d == 0 || product == 0 ? 0 : Math.multiplyExact(product, (long) d);
                    }
                    if (product != numel) {
                        throw new AssertionError(name + ": numel " + numel + " but shape " + Arrays.toString(shape));
                    }
                    float[] values = r.readFloat(name);
                    if (values.length != numel || numel > fileBytes) {
                        throw new AssertionError(name + ": read " + values.length + " values, numel " + numel
                                + ", from a file of " + fileBytes + " bytes");
                    }
                }
            }
        });
    }
}
