package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;

/**
 * Inverted dropout with a counter-based random source: element i is kept iff
 * hash(seed, stream, i) falls at or above p, and kept elements are scaled by 1 / (1 - p).
 *
 * <p>The keep decision is a pure function of (seed, stream, index), never of a stateful generator, so the
 * mask is the same for any thread count and any call order, and backward can recompute it from the same
 * three numbers instead of storing it (no mask buffer at all). Where a mask buffer is affordable, the
 * forward overload taking a long[] also records the mask as bits (1/32 of the activation's size), and
 * backward applies those bits: the same results, without hashing every element a second time. The caller picks seed per training step
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

    /** Length of the long[] that {@link #forward(Kernels, float[], float[], int, float, long, long, long[])} records a mask of n elements in. */
    public static int maskWords(int n) {
        return (n + 63) >>> 6;
    }

    /**
     * As {@link #forward(Kernels, float[], float[], int, float, long, long)}, and also records the mask:
     * bit (i & 63) of keep[i >>> 6] is set iff element i is kept. Backward can then apply the mask with
     * {@link #backward(Kernels, float[], float[], int, float, long[], boolean)} instead of hashing every
     * element again (the hash is most of dropout's cost: two 64-bit multiplies per element, which AVX2
     * cannot vectorise). Threads split the work at whole words, so no word is written by two threads.
     *
     * @param keep at least {@link #maskWords(int) maskWords(n)} longs
     */
    public static void forward(Kernels k, float[] out, float[] in, int n, float p, long seed, long stream, long[] keep) {
        checkP(p);
        Checks.nonNegative(n, "n");
        Checks.len(out, n, "out");
        Checks.len(in, n, "in");
        if (keep == null || keep.length < maskWords(n)) {
            throw new IllegalArgumentException("keep needs " + maskWords(n) + " words");
        }
        final long key = streamKey(seed, stream);
        final long threshold = p == 0f ? 0L : threshold(p);
        final float scale = p >= 1f ? 0f : (float) (1.0 / (1.0 - p));
        runWords(k, n, (w0, w1) -> {
            for (int w = w0; w < w1; w++) {
                int base = w << 6;
                int end = Math.min(base + 64, n);
                long bits = 0L;
                for (int i = base; i < end; i++) {
                    // p == 0 keeps everything (threshold 0) and is then an exact copy: in[i] * 1f.
                    boolean kept = keep(key, i, threshold);
                    if (kept) {
                        bits |= 1L << (i - base);
                    }
                    out[i] = kept ? in[i] * scale : 0f;
                }
                keep[w] = bits;
            }
        });
    }

    /**
     * din (+)= kept(i) ? dout[i] / (1 - p) : 0 with the mask recorded by
     * {@link #forward(Kernels, float[], float[], int, float, long, long, long[])}: accumulates when
     * accumulate is set, else overwrites (din may then be dout). Same results as the hashing
     * {@link #backward(Kernels, float[], float[], int, float, long, long)}. No-op when din is null.
     */
    public static void backward(Kernels k, float[] din, float[] dout, int n, float p, long[] keep, boolean accumulate) {
        if (din == null) {
            return;
        }
        checkP(p);
        Checks.nonNegative(n, "n");
        Checks.len(din, n, "din");
        Checks.len(dout, n, "dout");
        if (keep == null || keep.length < maskWords(n)) {
            throw new IllegalArgumentException("keep needs " + maskWords(n) + " words");
        }
        final float scale = p >= 1f ? 0f : (float) (1.0 / (1.0 - p));
        runWords(k, n, (w0, w1) -> {
            for (int w = w0; w < w1; w++) {
                int base = w << 6;
                int end = Math.min(base + 64, n);
                long bits = keep[w];
                if (accumulate) {
                    for (int i = base; i < end; i++) {
                        if ((bits >>> (i - base) & 1L) != 0) {
                            din[i] += dout[i] * scale;
                        }
                    }
                } else {
                    for (int i = base; i < end; i++) {
                        din[i] = (bits >>> (i - base) & 1L) != 0 ? dout[i] * scale : 0f;
                    }
                }
            }
        });
    }

    /** Runs body over word ranges [w0, w1) of the 64-element words covering [0, n). */
    private static void runWords(Kernels k, int n, Kernels.RangeBody body) {
        int words = maskWords(n);
        if (n < MIN_PARALLEL) {
            if (words > 0) {
                body.run(0, words);
            }
        } else {
            k.parallelFor(words, body);
        }
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
