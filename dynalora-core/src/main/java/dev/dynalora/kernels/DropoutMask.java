package dev.dynalora.kernels;

/**
 * The dropout mask that every backend draws ({@link Kernels#dropoutForward}): element i is kept iff
 * hash(seed, stream, i) falls at or above p. The decision is a pure function of (seed, stream, index), never
 * of a stateful generator, so the mask is the same for any thread count, call order and backend, and
 * backward can recompute it instead of storing it.
 *
 * <p>Element i uses output i + 1 of a SplitMix64 generator (Steele, Lea, Flood 2014; passes BigCrush) whose
 * state starts at a key mixed from (seed, stream). SplitMix64's state advances by a constant, so any output is
 * computed directly from its counter; its high 32 bits are compared against round(p * 2^32).
 */
public final class DropoutMask {

    private DropoutMask() {
    }

    /** SplitMix64's increment, the golden ratio in 64 bits. */
    public static final long GOLDEN = 0x9E3779B97F4A7C15L;

    /** SplitMix64 finaliser: a bijection on 64-bit values with full avalanche. */
    public static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** The generator key of a (seed, stream) pair. */
    public static long streamKey(long seed, long stream) {
        // Mixing twice keeps (seed, stream) and (seed', stream') pairs from colliding through simple sums.
        return mix(mix(seed) + GOLDEN * (stream + 1));
    }

    /** Whether element index is kept under key at this threshold. */
    public static boolean keep(long key, long index, long threshold) {
        long bits = mix(key + GOLDEN * (index + 1)) >>> 32; // uniform in [0, 2^32)
        return bits >= threshold;
    }

    /** Drop iff the 32-bit uniform is below this; P(drop) = threshold / 2^32 = p to within 2^-33. */
    public static long threshold(float p) {
        return p >= 1f ? 1L << 32 : Math.round(p * 4294967296.0);
    }

    /** The factor kept elements are multiplied by: (float) (1 / (1 - p)), 0 for p >= 1. */
    public static float scale(float p) {
        return p >= 1f ? 0f : (float) (1.0 / (1.0 - p));
    }

    /** Longs needed to record the mask of n elements, one bit each. */
    public static int maskWords(int n) {
        return (n + 63) >>> 6;
    }
}
