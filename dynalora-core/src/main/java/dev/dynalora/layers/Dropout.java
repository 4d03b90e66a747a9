package dev.dynalora.layers;

import dev.dynalora.kernels.DropoutMask;
import dev.dynalora.kernels.Kernels;

/**
 * Inverted dropout with a counter-based random source: element i is kept iff
 * hash(seed, stream, i) falls at or above p, and kept elements are scaled by 1 / (1 - p). Checks the
 * arguments and runs {@link Kernels#dropoutForward}, {@link Kernels#dropoutBackward} and
 * {@link Kernels#dropoutBackwardMasked}; the mask itself is {@link DropoutMask}.
 *
 * <p>The keep decision is a pure function of (seed, stream, index), never of a stateful generator, so the
 * mask is the same for any thread count and any call order, and backward can recompute it from the same
 * three numbers instead of storing it (no mask buffer at all). Where a mask buffer is affordable, the
 * forward overload taking a long[] also records the mask as bits (1/32 of the activation's size), and
 * backward applies those bits: the same results, without hashing every element a second time. The caller picks seed per training step
 * (e.g. derived from the run seed and the step number) and stream per dropout site (e.g. layer * 8 + site)
 * so different sites and steps get independent masks; forward and backward must get the same pair.
 */
public final class Dropout {

    private Dropout() {
    }

    /**
     * out[i] = keep(i) ? in[i] / (1 - p) : 0 for i in [0, n). out may be the same array as in. p == 0 is
     * an exact identity (a copy); p >= 1 zeroes everything.
     */
    public static void forward(Kernels k, float[] out, float[] in, int n, float p, long seed, long stream) {
        checkP(p);
        Checks.nonNegative(n, "n");
        Checks.len(out, n, "out");
        Checks.len(in, n, "in");
        k.dropoutForward(out, in, n, p, seed, stream, null);
    }

    /**
     * As the forward above for elements [first, first + n) of a larger tensor (a shard of a batch): element i
     * of these arrays gets the mask of element first + i; keep (may be null) records the mask as the
     * recording forward does, indexed by i. first = 0 is the plain call.
     */
    public static void forward(Kernels k, float[] out, float[] in, int n, float p, long seed, long stream, long first,
                               long[] keep) {
        checkP(p);
        Checks.nonNegative(n, "n");
        Checks.len(out, n, "out");
        Checks.len(in, n, "in");
        if (first < 0) {
            throw new IllegalArgumentException("first must be >= 0, got " + first);
        }
        if (keep != null && keep.length < maskWords(n)) {
            throw new IllegalArgumentException("keep needs " + maskWords(n) + " words");
        }
        k.dropoutForward(out, in, n, p, seed, stream, first, keep);
    }

    /** As the hashing backward below, with the mask of element first + i for element i. */
    public static void backward(Kernels k, float[] din, float[] dout, int n, float p, long seed, long stream, long first) {
        if (din == null) {
            return;
        }
        checkP(p);
        Checks.nonNegative(n, "n");
        Checks.len(din, n, "din");
        Checks.len(dout, n, "dout");
        if (first < 0) {
            throw new IllegalArgumentException("first must be >= 0, got " + first);
        }
        k.dropoutBackward(din, dout, n, p, seed, stream, first);
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
        k.dropoutBackward(din, dout, n, p, seed, stream);
    }

    /** Length of the long[] that {@link #forward(Kernels, float[], float[], int, float, long, long, long[])} records a mask of n elements in. */
    public static int maskWords(int n) {
        return DropoutMask.maskWords(n);
    }

    /**
     * As {@link #forward(Kernels, float[], float[], int, float, long, long)}, and also records the mask:
     * bit (i & 63) of keep[i >>> 6] is set iff element i is kept. Backward can then apply the mask with
     * {@link #backward(Kernels, float[], float[], int, float, long[], boolean)} instead of hashing every
     * element again (the hash is most of dropout's cost: two 64-bit multiplies per element, which AVX2
     * cannot vectorise).
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
        k.dropoutForward(out, in, n, p, seed, stream, keep);
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
        k.dropoutBackwardMasked(din, dout, n, p, keep, accumulate);
    }

    /** Whether element index is kept for this (seed, stream) at drop probability p: the mask itself. */
    public static boolean isKept(long seed, long stream, long index, float p) {
        checkP(p);
        return p == 0f || DropoutMask.keep(DropoutMask.streamKey(seed, stream), index, DropoutMask.threshold(p));
    }

    /** SplitMix64 finaliser: a bijection on 64-bit values with full avalanche. */
    static long mix(long z) {
        return DropoutMask.mix(z);
    }

    private static void checkP(float p) {
        if (!(p >= 0f && p <= 1f)) {
            throw new IllegalArgumentException("dropout probability must be in [0, 1], got " + p);
        }
    }
}
