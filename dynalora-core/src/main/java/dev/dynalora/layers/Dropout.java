package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;

/**
 * Inverted dropout with a counter-based random source: element i is kept iff
 * hash(seed, stream, i) falls at or above p, and kept elements are scaled by 1 / (1 - p).
 *
 * <p>The keep decision is a pure function of (seed, stream, index), never of a stateful generator, so the
 * mask is the same for any thread count and any call order, and backward recomputes it from the same
 * three numbers instead of storing it (no mask buffer at all). The caller picks seed per training step
 * (e.g. derived from the run seed and the step number) and stream per dropout site (e.g. layer * 8 + site)
 * so different sites and steps get independent masks; forward and backward must get the same pair.
 *
 * <p>Element i uses output i + 1 of a SplitMix64 generator (Steele, Lea, Flood 2014; passes BigCrush)
 * whose state starts at a key mixed from (seed, stream). SplitMix64's state advances by a constant, so
 * any output is computed directly from its counter; its high 32 bits are compared against
 * round(p * 2^32).
 */
public final class Dropout {

    private Dropout() {
    }

    private static final long GOLDEN = 0x9E3779B97F4A7C15L;
    private static final int MIN_PARALLEL = 1 << 14;

    /**
     * out[i] = keep(i) ? in[i] / (1 - p) : 0 for i in [0, n). out may be the same array as in. p == 0 is
     * an exact identity (a copy); p >= 1 zeroes everything.
     */
    public static void forward(Kernels k, float[] out, float[] in, int n, float p, long seed, long stream) {
        checkP(p);
        Checks.nonNegative(n, "n");
        Checks.len(out, n, "out");
        Checks.len(in, n, "in");
        if (p == 0f) {
            if (out != in) {
                System.arraycopy(in, 0, out, 0, n);
            }
            return;
        }
        final long key = streamKey(seed, stream);
        final long threshold = threshold(p);
        final float scale = p >= 1f ? 0f : (float) (1.0 / (1.0 - p));
        run(k, n, (from, to) -> {
            for (int i = from; i < to; i++) {
                out[i] = keep(key, i, threshold) ? in[i] * scale : 0f;
            }
        });
    }

    /**
     * din[i] += keep(i) ? dout[i] / (1 - p) : 0, recomputing the forward mask from (seed, stream). No-op
     * when din is null.
     */
    public static void backward(Kernels k, float[] din, float[] dout, int n, float p, long seed, long stream) {
        if (din == null) {
            return;
        }
        checkP(p);
        Checks.nonNegative(n, "n");
        Checks.len(din, n, "din");
        Checks.len(dout, n, "dout");
        if (p == 0f) {
            run(k, n, (from, to) -> {
                for (int i = from; i < to; i++) {
                    din[i] += dout[i];
                }
            });
            return;
        }
        final long key = streamKey(seed, stream);
        final long threshold = threshold(p);
        final float scale = p >= 1f ? 0f : (float) (1.0 / (1.0 - p));
        run(k, n, (from, to) -> {
            for (int i = from; i < to; i++) {
                if (keep(key, i, threshold)) {
                    din[i] += dout[i] * scale;
                }
            }
        });
    }

    /** Whether element index is kept for this (seed, stream) at drop probability p: the mask itself. */
    public static boolean isKept(long seed, long stream, long index, float p) {
        checkP(p);
        return p == 0f || keep(streamKey(seed, stream), index, threshold(p));
    }

    /** SplitMix64 finaliser: a bijection on 64-bit values with full avalanche. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    private static long streamKey(long seed, long stream) {
        // Mixing twice keeps (seed, stream) and (seed', stream') pairs from colliding through simple sums.
        return mix(mix(seed) + GOLDEN * (stream + 1));
    }

    private static boolean keep(long key, long index, long threshold) {
        long bits = mix(key + GOLDEN * (index + 1)) >>> 32; // uniform in [0, 2^32)
        return bits >= threshold;
    }

    /** Drop iff the 32-bit uniform is below this; P(drop) = threshold / 2^32 = p to within 2^-33. */
    private static long threshold(float p) {
        return p >= 1f ? 1L << 32 : Math.round(p * 4294967296.0);
    }

    private static void checkP(float p) {
        if (!(p >= 0f && p <= 1f)) {
            throw new IllegalArgumentException("dropout probability must be in [0, 1], got " + p);
        }
    }

    private static void run(Kernels k, int n, Kernels.RangeBody body) {
        if (n < MIN_PARALLEL) {
            if (n > 0) {
                body.run(0, n);
            }
        } else {
            k.parallelFor(n, body);
        }
    }
}
