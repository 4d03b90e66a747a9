package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;

/**
 * The core of multi-head scaled dot-product self-attention, without the Q/K/V/output projections (those
 * are {@link Linear} ops owned by the model, which is also where LoRA attaches):
 * ctx_h = softmax(Q_h K_h^T / sqrt(hd) + mask) V_h for every example and head.
 *
 * <p>Layout (row-major, tokens of an example contiguous, as the projections produce them):
 * <ul>
 *   <li>q, ctx: [batch * seqLen, nHeads * headDim]; head h is columns h*headDim .. h*headDim+headDim-1;</li>
 *   <li>k, v: [batch * seqLen, nKvHeads * headDim]; query head h reads kv head h / (nHeads / nKvHeads)
 *       (grouped-query attention; nKvHeads == nHeads is ordinary multi-head attention, nKvHeads == 1 is
 *       multi-query attention);</li>
 *   <li>maskBias: [batch * seqLen] additive bias per key token, 0 for real tokens and a large negative
 *       value for padding (the model builds it once per batch from the attention mask); null for none;</li>
 *   <li>probs: [batch, nHeads, seqLen, seqLen] the attention probabilities, saved for backward.</li>
 * </ul>
 *
 * <p>Masking: a padding bias of -1e30 (or -Float.MAX_VALUE) gives padded keys a probability of exactly 0
 * whenever the row has a real key. A query row with no unmasked key at all (a fully padded example) then
 * comes out uniform, as in Hugging Face; with a -inf bias it comes out as zeros. Neither produces NaN.
 * With causal, key j > query i is excluded (probability exactly 0) without touching the bias.
 *
 * <p>Attention-probability dropout (Hugging Face's attention_probs_dropout_prob), when a {@link ProbsDropout}
 * is given: ctx = dropout(P) V. probs keeps the exact softmax (its backward needs it); the dropped copy goes to
 * the ProbsDropout's scratch and the keep mask to its bit array, from which backward rebuilds the same dropped
 * values (the same float product) for dV and masks the gradient of the dropped probabilities. The passes are
 * then split in three (softmax; dropout over all heads at once, with the mask a function of each element's
 * index in probs, so it does not depend on the thread split; the products), for multi-head attention only
 * (nKvHeads == nHeads: the decoders have no attention dropout).
 *
 * <p>Parallelism: forward runs one task per (example, head); backward one task per (example, kv head),
 * looping over the query heads of its group in a fixed order. That keeps the dK/dV accumulation of heads
 * that share a kv head on one thread, so backward is race-free and deterministic also under GQA.
 */
public final class Attention {

    /**
     * (example, head) pairs per block of the dynamically scheduled loops: every pair is independent work
     * (its own slices of the probabilities and outputs), so blocks can go to whichever thread is free. Four
     * pairs of a BERT-sized head (T = 128, d = 32) are about 1 MFLOP, far above the cost of taking a block.
     */
    static final int HEADS_PER_BLOCK = 4;

    private Attention() {
    }

    /**
     * Dropout of the attention probabilities: rate p, mask drawn from (seed, stream) by the kernels' dropout
     * rule over the element indices of probs; keep (at least ceil(n / 64) longs) receives the mask and dropped
     * (at least n floats) the dropped probabilities, n = batch * nHeads * seqLen * seqLen (or batch * nHeads *
     * seqLen for {@link FirstTokenAttention}). Both are needed again by backward.
     */
    public record ProbsDropout(float p, long seed, long stream, long[] keep, float[] dropped, int firstExample) {
        /** For a whole batch (firstExample 0). */
        public ProbsDropout(float p, long seed, long stream, long[] keep, float[] dropped) {
            this(p, seed, stream, keep, dropped, 0);
        }

        /** The mask index of element 0 of these probabilities, n of them over batch examples (see TokenBatch). */
        long first(long n, int batch) {
            return firstExample == 0 || batch == 0 ? 0L : (long) firstExample * (n / batch);
        }

        /** Whether this drops anything (null or rate 0: plain attention). */
        static boolean active(ProbsDropout d) {
            return d != null && d.p > 0f;
        }

        void check(long n) {
            Checks.len(dropped, n, "dropped");
            if (keep.length < (n + 63) / 64) {
                throw new IllegalArgumentException("keep has " + keep.length + " words, need " + (n + 63) / 64);
            }
        }
    }

    /** Multi-head attention (nKvHeads == nHeads). */
    public static void forward(Kernels kern, float[] ctx, float[] probs, float[] q, float[] k, float[] v,
                               float[] maskBias, int batch, int seqLen, int nHeads, int headDim, boolean causal) {
        forward(kern, ctx, probs, q, k, v, maskBias, batch, seqLen, nHeads, nHeads, headDim, causal);
    }

    /**
     * Multi-head attention (nKvHeads == nHeads) with dropout of the attention probabilities when drop is active
     * (then probs must be given: backward needs the exact softmax).
     */
    public static void forward(Kernels kern, float[] ctx, float[] probs, float[] q, float[] k, float[] v,
                               float[] maskBias, int batch, int seqLen, int nHeads, int headDim, boolean causal,
                               ProbsDropout drop) {
        if (!ProbsDropout.active(drop)) {
            forward(kern, ctx, probs, q, k, v, maskBias, batch, seqLen, nHeads, nHeads, headDim, causal);
            return;
        }
        checkShape(batch, seqLen, nHeads, nHeads, headDim);
        final int hDim = nHeads * headDim;
        final long tokens = (long) batch * seqLen;
        final int tt = seqLen * seqLen;
        final int n = batch * nHeads * tt;
        Checks.len(ctx, tokens * hDim, "ctx");
        Checks.len(q, tokens * hDim, "q");
        Checks.len(k, tokens * hDim, "k");
        Checks.len(v, tokens * hDim, "v");
        Checks.len(probs, n, "probs");
        Checks.lenOrNull(maskBias, tokens, "maskBias");
        drop.check(n);
        if (batch == 0) {
            return;
        }
        final float scale = (float) (1.0 / Math.sqrt(headDim));
        kern.parallelForDynamic(batch * nHeads, HEADS_PER_BLOCK, (u0, u1) -> {
            for (int u = u0; u < u1; u++) {
                int b = u / nHeads;
                int off = b * seqLen * hDim + (u % nHeads) * headDim;
                kern.sgemmLocal(false, true, seqLen, seqLen, headDim, scale, q, off, hDim, k, off, hDim, 0f, probs, u * tt, seqLen);
                kern.softmaxRowsLocal(probs, u * tt, seqLen, seqLen, causal ? 1 : seqLen, maskBias, b * seqLen);
            }
        });
        kern.dropoutForward(drop.dropped(), probs, n, drop.p(), drop.seed(), drop.stream(), drop.first(n, batch), drop.keep());
        float[] dropped = drop.dropped();
        kern.parallelForDynamic(batch * nHeads, HEADS_PER_BLOCK, (u0, u1) -> {
            for (int u = u0; u < u1; u++) {
                int off = (u / nHeads) * seqLen * hDim + (u % nHeads) * headDim;
                kern.sgemmLocal(false, false, seqLen, headDim, seqLen, 1f, dropped, u * tt, seqLen, v, off, hDim, 0f, ctx, off, hDim);
            }
        });
    }

    /**
     * Backward of {@link #forward(Kernels, float[], float[], float[], float[], float[], float[], int, int, int, int, boolean, ProbsDropout)}
     * with the same drop (its keep mask as forward recorded it; its dropped scratch is rebuilt here). Writes
     * (overwrite) or accumulates dq, dk, dv as the other backward does; scratch as there.
     */
    public static void backward(Kernels kern, float[] dq, float[] dk, float[] dv, float[] scratch, float[] dctx,
                                float[] probs, float[] q, float[] k, float[] v,
                                int batch, int seqLen, int nHeads, int headDim, boolean overwrite, ProbsDropout drop) {
        if (!ProbsDropout.active(drop)) {
            backward(kern, dq, dk, dv, scratch, dctx, probs, q, k, v, batch, seqLen, nHeads, nHeads, headDim, overwrite);
            return;
        }
        checkShape(batch, seqLen, nHeads, nHeads, headDim);
        if (batch == 0 || (dq == null && dk == null && dv == null)) {
            return;
        }
        final int hDim = nHeads * headDim;
        final long tokens = (long) batch * seqLen;
        final int tt = seqLen * seqLen;
        final int n = batch * nHeads * tt;
        Checks.lenOrNull(dq, tokens * hDim, "dq");
        Checks.lenOrNull(dk, tokens * hDim, "dk");
        Checks.lenOrNull(dv, tokens * hDim, "dv");
        Checks.len(dctx, tokens * hDim, "dctx");
        Checks.len(probs, n, "probs");
        drop.check(n);
        final boolean scores = dq != null || dk != null;
        final float[] ds = !scores ? null : scratch != null ? scratch : new float[n];
        if (scores) {
            Checks.len(ds, n, "scratch");
        }
        final float beta = overwrite ? 0f : 1f;
        final float scale = (float) (1.0 / Math.sqrt(headDim));
        // The dropped probabilities exactly as forward multiplied them into V.
        float[] dropped = drop.dropped();
        kern.dropoutBackwardMasked(dropped, probs, n, drop.p(), drop.keep(), false);
        kern.parallelForDynamic(batch * nHeads, HEADS_PER_BLOCK, (u0, u1) -> {
            for (int u = u0; u < u1; u++) {
                int off = (u / nHeads) * seqLen * hDim + (u % nHeads) * headDim;
                if (dv != null) {
                    kern.sgemmLocal(true, false, seqLen, headDim, seqLen, 1f, dropped, u * tt, seqLen, dctx, off, hDim, beta, dv, off, hDim);
                }
                if (scores) {
                    // d(dropped P) = dctx V^T
                    kern.sgemmLocal(false, true, seqLen, seqLen, headDim, 1f, dctx, off, hDim, v, off, hDim, 0f, ds, u * tt, seqLen);
                }
            }
        });
        if (!scores) {
            return;
        }
        // Through the dropout (dP = mask * scale * d(dropped P)), then the softmax and the score products.
        kern.dropoutBackwardMasked(ds, ds, n, drop.p(), drop.keep(), false);
        kern.parallelForDynamic(batch * nHeads, HEADS_PER_BLOCK, (u0, u1) -> {
            for (int u = u0; u < u1; u++) {
                int off = (u / nHeads) * seqLen * hDim + (u % nHeads) * headDim;
                kern.softmaxBackwardRowsLocal(probs, u * tt, ds, u * tt, seqLen, seqLen);
                if (dq != null) {
                    kern.sgemmLocal(false, false, seqLen, headDim, seqLen, scale, ds, u * tt, seqLen, k, off, hDim, beta, dq, off, hDim);
                }
                if (dk != null) {
                    kern.sgemmLocal(true, false, seqLen, headDim, seqLen, scale, ds, u * tt, seqLen, q, off, hDim, beta, dk, off, hDim);
                }
            }
        });
    }

    /**
     * ctx = attention(q, k, v); probs saved. See the class comment for shapes.
     *
     * @param ctx   [batch*seqLen, nHeads*headDim] output (overwritten)
     * @param probs [batch*nHeads*seqLen*seqLen] output, saved for backward; or null when no backward will
     *              follow (inference): each thread then reuses one [seqLen, seqLen] scratch, which stays in
     *              cache instead of streaming 4 bytes * batch * heads * seqLen^2 through memory
     */
    public static void forward(Kernels kern, float[] ctx, float[] probs, float[] q, float[] k, float[] v,
                               float[] maskBias, int batch, int seqLen, int nHeads, int nKvHeads, int headDim,
                               boolean causal) {
        checkShape(batch, seqLen, nHeads, nKvHeads, headDim);
        final int hDim = nHeads * headDim;
        final int kvDim = nKvHeads * headDim;
        final int group = nHeads / nKvHeads;
        final long tokens = (long) batch * seqLen;
        Checks.len(ctx, tokens * hDim, "ctx");
        Checks.len(q, tokens * hDim, "q");
        Checks.len(k, tokens * kvDim, "k");
        Checks.len(v, tokens * kvDim, "v");
        Checks.lenOrNull(probs, (long) batch * nHeads * seqLen * seqLen, "probs");
        Checks.lenOrNull(maskBias, tokens, "maskBias");
        if (batch == 0) {
            return;
        }
        final float scale = (float) (1.0 / Math.sqrt(headDim));
        final int tt = seqLen * seqLen;
        kern.parallelForDynamic(batch * nHeads, HEADS_PER_BLOCK, (u0, u1) -> {
            float[] p = probs != null ? probs : new float[tt];
            for (int u = u0; u < u1; u++) {
                int b = u / nHeads;
                int h = u % nHeads;
                int kvh = h / group;
                int qOff = b * seqLen * hDim + h * headDim;
                int kOff = b * seqLen * kvDim + kvh * headDim;
                int pOff = probs != null ? u * tt : 0;
                // scores = scale * Q K^T, [T, T], straight into the probs slice (it is softmaxed in place).
                kern.sgemmLocal(false, true, seqLen, seqLen, headDim, scale,
                        q, qOff, hDim, k, kOff, kvDim, 0f, p, pOff, seqLen);
                // Row i softmaxes its first i + 1 scores under causal (the rest set to 0), else all seqLen; the
                // padding bias is added in the softmax's max pass (one pass less over the row).
                kern.softmaxRowsLocal(p, pOff, seqLen, seqLen, causal ? 1 : seqLen, maskBias, b * seqLen);
                // ctx_h = P V, written into this head's column slice of ctx.
                kern.sgemmLocal(false, false, seqLen, headDim, seqLen, 1f,
                        p, pOff, seqLen, v, kOff, kvDim, 0f, ctx, qOff, hDim);
            }
        });
    }

    /** Backward of multi-head attention (nKvHeads == nHeads). */
    public static void backward(Kernels kern, float[] dq, float[] dk, float[] dv, float[] scratch, float[] dctx,
                                float[] probs, float[] q, float[] k, float[] v,
                                int batch, int seqLen, int nHeads, int headDim) {
        backward(kern, dq, dk, dv, scratch, dctx, probs, q, k, v, batch, seqLen, nHeads, nHeads, headDim);
    }

    /**
     * Accumulates dq += dL/dq, dk += dL/dk, dv += dL/dv from dctx, using the probs saved by forward (which
     * already encode the padding mask and causality, so neither is passed again). Any of dq, dk, dv may
     * be null and is then not computed; if dq and dk are both null the score gradient is skipped too.
     *
     * @param scratch [batch*nKvHeads*seqLen*seqLen] work space for the score gradients (contents ignored
     *                and clobbered), or null to allocate one for this call
     */
    public static void backward(Kernels kern, float[] dq, float[] dk, float[] dv, float[] scratch, float[] dctx,
                                float[] probs, float[] q, float[] k, float[] v,
                                int batch, int seqLen, int nHeads, int nKvHeads, int headDim) {
        backward(kern, dq, dk, dv, scratch, dctx, probs, q, k, v, batch, seqLen, nHeads, nKvHeads, headDim, false);
    }

    /**
     * As {@link #backward(Kernels, float[], float[], float[], float[], float[], float[], float[], float[], float[], int, int, int, int, int)},
     * but with overwrite the gradients are written (dq = dL/dq, ...) instead of accumulated, so the caller
     * need not zero them first: the first head of each kv group stores with beta 0, the rest accumulate.
     */
    public static void backward(Kernels kern, float[] dq, float[] dk, float[] dv, float[] scratch, float[] dctx,
                                float[] probs, float[] q, float[] k, float[] v,
                                int batch, int seqLen, int nHeads, int nKvHeads, int headDim, boolean overwrite) {
        checkShape(batch, seqLen, nHeads, nKvHeads, headDim);
        if (batch == 0 || (dq == null && dk == null && dv == null)) {
            return;
        }
        final int hDim = nHeads * headDim;
        final int kvDim = nKvHeads * headDim;
        final int group = nHeads / nKvHeads;
        final long tokens = (long) batch * seqLen;
        final int tt = seqLen * seqLen;
        Checks.lenOrNull(dq, tokens * hDim, "dq");
        Checks.lenOrNull(dk, tokens * kvDim, "dk");
        Checks.lenOrNull(dv, tokens * kvDim, "dv");
        Checks.len(dctx, tokens * hDim, "dctx");
        Checks.len(probs, (long) batch * nHeads * tt, "probs");
        final boolean scores = dq != null || dk != null;
        if (scores) {
            Checks.len(q, tokens * hDim, "q");
            Checks.len(k, tokens * kvDim, "k");
            Checks.len(v, tokens * kvDim, "v");
        }
        final float[] ds;
        if (!scores) {
            ds = null;
        } else if (scratch == null) {
            ds = new float[Math.multiplyExact(batch * nKvHeads, tt)];
        } else {
            Checks.len(scratch, (long) batch * nKvHeads * tt, "scratch");
            ds = scratch;
        }
        final float scale = (float) (1.0 / Math.sqrt(headDim));
        kern.parallelForDynamic(batch * nKvHeads, HEADS_PER_BLOCK, (g0, g1) -> {
            for (int g = g0; g < g1; g++) {
                int b = g / nKvHeads;
                int kvh = g % nKvHeads;
                int kOff = b * seqLen * kvDim + kvh * headDim;
                int sOff = g * tt;
                for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                    int qOff = b * seqLen * hDim + h * headDim;
                    int pOff = (b * nHeads + h) * tt;
                    // beta for dk and dv (shared by the heads of a group) and for dq (one head's own).
                    float kvBeta = overwrite && h == kvh * group ? 0f : 1f;
                    float qBeta = overwrite ? 0f : 1f;
                    if (dv != null) {
                        // dV += P^T dctx
                        kern.sgemmLocal(true, false, seqLen, headDim, seqLen, 1f,
                                probs, pOff, seqLen, dctx, qOff, hDim, kvBeta, dv, kOff, kvDim);
                    }
                    if (!scores) {
                        continue;
                    }
                    // dP = dctx V^T, then through the softmax: dS = P * (dP - rowsum(dP * P)). Masked and
                    // causally excluded entries have P == 0 and so get no gradient.
                    kern.sgemmLocal(false, true, seqLen, seqLen, headDim, 1f,
                            dctx, qOff, hDim, v, kOff, kvDim, 0f, ds, sOff, seqLen);
                    kern.softmaxBackwardRowsLocal(probs, pOff, ds, sOff, seqLen, seqLen);
                    // S = scale * Q K^T: dQ += scale * dS K, dK += scale * dS^T Q.
                    if (dq != null) {
                        kern.sgemmLocal(false, false, seqLen, headDim, seqLen, scale,
                                ds, sOff, seqLen, k, kOff, kvDim, qBeta, dq, qOff, hDim);
                    }
                    if (dk != null) {
                        kern.sgemmLocal(true, false, seqLen, headDim, seqLen, scale,
                                ds, sOff, seqLen, q, qOff, hDim, kvBeta, dk, kOff, kvDim);
                    }
                }
            }
        });
    }

    private static void checkShape(int batch, int seqLen, int nHeads, int nKvHeads, int headDim) {
        Checks.nonNegative(batch, "batch");
        Checks.positive(seqLen, "seqLen");
        Checks.positive(nHeads, "nHeads");
        Checks.positive(nKvHeads, "nKvHeads");
        Checks.positive(headDim, "headDim");
        if (nHeads % nKvHeads != 0) {
            throw new IllegalArgumentException("nHeads (" + nHeads + ") must be a multiple of nKvHeads (" + nKvHeads + ")");
        }
        if ((long) batch * nHeads * seqLen * seqLen > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("attention probs for batch " + batch + ", " + nHeads + " heads, length "
                    + seqLen + " exceed one Java array");
        }
    }
}
