package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;

/**
 * Causal grouped-query attention of new tokens against a KV cache (inference only, no backward): the
 * attention of a generation step. The new rows come in segments, one per sequence: segment s has
 * {@code count[s]} consecutive rows of q starting at row {@code firstRow[s]}, at positions
 * {@code start[s] .. start[s] + count[s] - 1}, and its keys and values for positions
 * {@code 0 .. start[s] + count[s] - 1} (the new ones included) are the rows of {@code keys[s]} and
 * {@code values[s]}, [positions, nKvHeads * headDim]. Row i of a segment attends to positions
 * {@code 0 .. start[s] + i}: a prefill segment (start 0, count = the prompt) is ordinary causal attention, a
 * decode segment (count 1) is one query against the whole past. Sequences never see each other, so
 * sequences of different lengths share a step without padding.
 *
 * <p>The products go through {@link Kernels#sgemmLocal} and the score rows through
 * {@link Kernels#softmaxRowsLocal}; a decode query is one row, which the CPU backend
 * runs as dot products over the cached keys. Results do not depend on the thread count (one task per
 * segment and head, each with its own slice of ctx).
 */
public final class CachedAttention {
    private CachedAttention() {
    }

    /** Below this many flops the step's attention runs on the calling thread (a decode step at batch 1). */
    private static final long MIN_PARALLEL_FLOPS = 1 << 19;

    /** Query rows per block of a prefill segment. */
    private static final int QUERY_BLOCK = 64;

    private static final ThreadLocal<float[][]> SCORES = ThreadLocal.withInitial(() -> new float[1][0]);

    /**
     * ctx[rows, nHeads * headDim] = attention of q[rows, nHeads * headDim] (after RoPE) over the cached keys
     * and values; see the class comment for the segment arrays. Only the segments' rows of ctx are written.
     */
    public static void forward(Kernels kern, float[] ctx, float[] q, float[][] keys, float[][] values,
                               int[] firstRow, int[] count, int[] start, int segments,
                               int nHeads, int nKvHeads, int headDim) {
        Checks.positive(nHeads, "nHeads");
        Checks.positive(nKvHeads, "nKvHeads");
        Checks.positive(headDim, "headDim");
        if (nHeads % nKvHeads != 0) {
            throw new IllegalArgumentException("nHeads (" + nHeads + ") must be a multiple of nKvHeads (" + nKvHeads + ")");
        }
        final int hDim = nHeads * headDim;
        final int kvDim = nKvHeads * headDim;
        final int group = nHeads / nKvHeads;
        long flops = 0;
        for (int s = 0; s < segments; s++) {
            long len = (long) start[s] + count[s];
            Checks.positive(count[s], "count");
            Checks.nonNegative(start[s], "start");
            Checks.len(keys[s], len * kvDim, "keys");
            Checks.len(values[s], len * kvDim, "values");
            Checks.len(q, ((long) firstRow[s] + count[s]) * hDim, "q");
            Checks.len(ctx, ((long) firstRow[s] + count[s]) * hDim, "ctx");
            flops += 4L * count[s] * len * hDim;
        }
        final float scale = (float) (1.0 / Math.sqrt(headDim));
        Kernels.RangeBody body = (u0, u1) -> {
            for (int u = u0; u < u1; u++) {
                int s = u / nHeads;
                int h = u % nHeads;
                int kOff = (h / group) * headDim;
                // Query rows in blocks, so a long prompt's scores need QUERY_BLOCK x len floats, not len^2.
                for (int i0 = 0; i0 < count[s]; i0 += QUERY_BLOCK) {
                    int n = Math.min(QUERY_BLOCK, count[s] - i0);
                    int pos0 = start[s] + i0;
                    int len = pos0 + n; // the block's last row sees this many positions
                    float[] p = scores(n * len);
                    int qOff = (firstRow[s] + i0) * hDim + h * headDim;
                    // scores = scale * Q_h K_h^T, [n, len]; row i keeps its first pos0 + i + 1 entries.
                    kern.sgemmLocal(false, true, n, len, headDim, scale, q, qOff, hDim, keys[s], kOff, kvDim, 0f, p, 0, len);
                    kern.softmaxRowsLocal(p, 0, n, len, pos0 + 1, null, 0);
                    // ctx_h = P V_h, into this head's columns of the block's rows.
                    kern.sgemmLocal(false, false, n, headDim, len, 1f, p, 0, len, values[s], kOff, kvDim, 0f, ctx, qOff, hDim);
                }
            }
        };
        int units = segments * nHeads;
        if (units == 0) {
            return;
        }
        if (kern.threads() == 1 || flops < MIN_PARALLEL_FLOPS) {
            body.run(0, units);
        } else {
            kern.parallelForDynamic(units, 1, body);
        }
    }

    /** This thread's score scratch, grown to at least n floats (reused: a decode step allocates nothing). */
    private static float[] scores(int n) {
        float[][] holder = SCORES.get();
        if (holder[0].length < n) {
            holder[0] = new float[n];
        }
        return holder[0];
    }
}
