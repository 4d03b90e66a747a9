package dev.dynalora.adapters;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.UserInputException;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The training-time state of a rank allocator (importance averages, masks, counters), as a checkpoint stores
 * it: large float arrays go into {@link #arrays()} (written as tensors), everything small into
 * {@link #values()} (written as JSON). Doubles are kept as their raw bits, because a resumed run must continue
 * bit for bit and JSON has no NaN or infinity (a gate minimum starts at +infinity).
 *
 * <p>Readers check every length: a checkpoint of another configuration fails with the key named instead of
 * an index error mid-run.
 */
public final class AllocatorState {
    private final Map<String, float[]> arrays;
    private final ObjectNode values;

    public AllocatorState() {
        this(new LinkedHashMap<>(), JsonNodeFactory.instance.objectNode());
    }

    public AllocatorState(Map<String, float[]> arrays, ObjectNode values) {
        this.arrays = arrays;
        this.values = values;
    }

    /** Float arrays by key, not copied: the caller writes them out before training moves on. */
    public Map<String, float[]> arrays() {
        return arrays;
    }

    public ObjectNode values() {
        return values;
    }

    public void putFloats(String key, float[] a) {
        arrays.put(key, a);
    }

    /** The float array under key, which must have {@code length} values. */
    public float[] floats(String key, int length) {
        float[] a = arrays.get(key);
        if (a == null) {
            throw missing(key);
        }
        checkLength(key, a.length, length);
        return a;
    }

    public void putDoubles(String key, double[] a) {
        ArrayNode n = values.putArray(key);
        for (double x : a) {
            n.add(Double.doubleToRawLongBits(x));
        }
    }

    public double[] doubles(String key, int length) {
        long[] bits = longs(key, length);
        double[] a = new double[length];
        for (int i = 0; i < length; i++) {
            a[i] = Double.longBitsToDouble(bits[i]);
        }
        return a;
    }

    public void putLongs(String key, long[] a) {
        ArrayNode n = values.putArray(key);
        for (long x : a) {
            n.add(x);
        }
    }

    public long[] longs(String key, int length) {
        JsonNode n = array(key, length);
        long[] a = new long[length];
        for (int i = 0; i < length; i++) {
            if (!n.get(i).canConvertToExactIntegral()) {
                throw new UserInputException("checkpoint: allocator state '" + key + "' holds a non-integer");
            }
            a[i] = n.get(i).asLong();
        }
        return a;
    }

    public void putBooleans(String key, boolean[] a) {
        ArrayNode n = values.putArray(key);
        for (boolean x : a) {
            n.add(x);
        }
    }

    public boolean[] booleans(String key, int length) {
        JsonNode n = array(key, length);
        boolean[] a = new boolean[length];
        for (int i = 0; i < length; i++) {
            if (!n.get(i).isBoolean()) {
                throw new UserInputException("checkpoint: allocator state '" + key + "' holds a non-boolean");
            }
            a[i] = n.get(i).booleanValue();
        }
        return a;
    }

    public void putLong(String key, long v) {
        values.put(key, v);
    }

    public long getLong(String key) {
        JsonNode n = values.get(key);
        if (n == null || !n.canConvertToExactIntegral()) {
            throw missing(key);
        }
        return n.asLong();
    }

    public void putBoolean(String key, boolean v) {
        values.put(key, v);
    }

    public boolean getBoolean(String key) {
        JsonNode n = values.get(key);
        if (n == null || !n.isBoolean()) {
            throw missing(key);
        }
        return n.booleanValue();
    }

    /** Whether a value (not an array of floats) is stored under key; JSON null counts as absent. */
    public boolean has(String key) {
        return values.hasNonNull(key);
    }

    private JsonNode array(String key, int length) {
        JsonNode n = values.get(key);
        if (n == null || !n.isArray()) {
            throw missing(key);
        }
        checkLength(key, n.size(), length);
        return n;
    }

    private static void checkLength(String key, int actual, int expected) {
        if (actual != expected) {
            throw new UserInputException("checkpoint: allocator state '" + key + "' has " + actual
                    + " values, this run's configuration needs " + expected);
        }
    }

    private static UserInputException missing(String key) {
        return new UserInputException("checkpoint: allocator state '" + key + "' is missing or malformed"
                + " (was the checkpoint written by another method or version?)");
    }
}
