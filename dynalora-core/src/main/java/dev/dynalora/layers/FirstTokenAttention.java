package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;

/**
 * Multi-head self-attention of each example's first token only: the query of token 0 against every key of
 * its example, ctx_h = softmax(q0_h K_h^T / sqrt(hd) + mask) V_h. This is what the last layer of an encoder
 * whose classifier reads only the first token ([CLS]) has to compute: every other row of that layer's output
 * is never read, so its attention, output projection, feed-forward block and layer norms are skipped (about
 * 84% of the last layer's work), while keys and values are still needed for every token.
 *
 * <p>Layout as in {@link Attention}: q, k, v are [batch * seqLen, nHeads * headDim] with the tokens of an
 * example contiguous; ctx and dctx are compact, [batch, nHeads * headDim], one row per example; probs is
 * [batch, nHeads, seqLen]; maskBias is [batch * seqLen] (0 for real tokens, a large negative value for
 * padding) or null. Masking and the fully padded case behave exactly as in {@link Attention}.
 *
 * <p>The products go through {@link Kernels#sgemmLocal}, one task per (example, head), so results do not
 * depend on the thread count.
 */
public final class FirstTokenAttention {
    private FirstTokenAttention() {
    }

    /**
     * ctx[e] = attention of q's row e * seqLen over the keys and values of example e.
     *
     * @param probs [batch * nHeads * seqLen] output, saved for backward; or null when no backward follows
     */
    public static void forward(Kernels kern, float[] ctx, float[] probs, float[] q, float[] k, float[] v,
                               float[] maskBias, int batch, int seqLen, int nHeads, int headDim) {
        forward(kern, ctx, probs, q, k, v, maskBias, batch, seqLen, nHeads, headDim, null);
    }

    /**
     * As above, with dropout of the attention probabilities when drop is active (as in {@link Attention}; then
     * probs must be given, and drop's arrays cover batch * nHeads * seqLen elements).
     */
    public static void forward(Kernels kern, float[] ctx, float[] probs, float[] q, float[] k, float[] v,
                               float[] maskBias, int batch, int seqLen, int nHeads, int headDim,
                               Attention.ProbsDropout drop) {
        checkShape(batch, seqLen, nHeads, headDim);
        final int hDim = nHeads * headDim;
        final long tokens = (long) batch * seqLen;
        Checks.len(ctx, (long) batch * hDim, "ctx");
        Checks.len(q, tokens * hDim, "q");
        Checks.len(k, tokens * hDim, "k");
        Checks.len(v, tokens * hDim, "v");
        Checks.lenOrNull(probs, tokens * nHeads, "probs");
        Checks.lenOrNull(maskBias, tokens, "maskBias");
        if (batch == 0) {
            return;
        }
        final float scale = (float) (1.0 / Math.sqrt(headDim));
        if (Attention.ProbsDropout.active(drop)) {
            int n = batch * nHeads * seqLen;
            Checks.len(probs, n, "probs");
            drop.check(n);
            kern.parallelForDynamic(batch * nHeads, Attention.HEADS_PER_BLOCK * 4, (u0, u1) -> {
                for (int u = u0; u < u1; u++) {
                    int e = u / nHeads;
                    int off = e * seqLen * hDim + (u % nHeads) * headDim;
                    kern.sgemmLocal(false, true, 1, seqLen, headDim, scale, q, off, hDim, k, off, hDim, 0f, probs, u * seqLen, seqLen);
                    kern.softmaxRowsLocal(probs, u * seqLen, 1, seqLen, seqLen, maskBias, e * seqLen);
                }
            });
            kern.dropoutForward(drop.dropped(), probs, n, drop.p(), drop.seed(), drop.stream(), drop.first(n, batch), drop.keep());
            float[] dropped = drop.dropped();
            kern.parallelForDynamic(batch * nHeads, Attention.HEADS_PER_BLOCK * 4, (u0, u1) -> {
                for (int u = u0; u < u1; u++) {
                    int e = u / nHeads;
                    int h = u % nHeads;
                    kern.sgemmLocal(false, false, 1, headDim, seqLen, 1f, dropped, u * seqLen, seqLen,
                            v, e * seqLen * hDim + h * headDim, hDim, 0f, ctx, e * hDim + h * headDim, hDim);
                }
            });
            return;
        }
        kern.parallelForDynamic(batch * nHeads, Attention.HEADS_PER_BLOCK * 4, (u0, u1) -> {
            float[] p = probs != null ? probs : new float[seqLen];
            for (int u = u0; u < u1; u++) {
                int e = u / nHeads;
                int h = u % nHeads;
                int qOff = e * seqLen * hDim + h * headDim;
                int pOff = probs != null ? u * seqLen : 0;
                kern.sgemmLocal(false, true, 1, seqLen, headDim, scale, q, qOff, hDim, k, qOff, hDim, 0f, p, pOff, seqLen);
                kern.softmaxRowsLocal(p, pOff, 1, seqLen, seqLen, maskBias, e * seqLen);
                kern.sgemmLocal(false, false, 1, headDim, seqLen, 1f, p, pOff, seqLen, v, qOff, hDim, 0f,
                        ctx, e * hDim + h * headDim, hDim);
            }
        });
    }

    /**
     * From dctx [batch, hDim]: writes dq's first-token rows (its other rows are not touched: they have no
     * gradient, and the caller zeroes them) and writes dk and dv for every row (overwrite, no zeroing needed).
     * Any of dq, dk, dv may be null and is then not computed.
     */
    public static void backward(Kernels kern, float[] dq, float[] dk, float[] dv, float[] dctx, float[] probs,
                                float[] q, float[] k, float[] v, int batch, int seqLen, int nHeads, int headDim) {
        backward(kern, dq, dk, dv, dctx, probs, q, k, v, batch, seqLen, nHeads, headDim, null);
    }

    /** As above, after a forward with the same drop (its keep mask as forward recorded it). */
    public static void backward(Kernels kern, float[] dq, float[] dk, float[] dv, float[] dctx, float[] probs,
                                float[] q, float[] k, float[] v, int batch, int seqLen, int nHeads, int headDim,
                                Attention.ProbsDropout drop) {
        checkShape(batch, seqLen, nHeads, headDim);
        if (batch == 0 || (dq == null && dk == null && dv == null)) {
            return;
        }
        final int hDim = nHeads * headDim;
        final long tokens = (long) batch * seqLen;
        Checks.lenOrNull(dq, tokens * hDim, "dq");
        Checks.lenOrNull(dk, tokens * hDim, "dk");
        Checks.lenOrNull(dv, tokens * hDim, "dv");
        Checks.len(dctx, (long) batch * hDim, "dctx");
        Checks.len(probs, tokens * nHeads, "probs");
        Checks.len(q, tokens * hDim, "q");
        Checks.len(k, tokens * hDim, "k");
        Checks.len(v, tokens * hDim, "v");
        final boolean scores = dq != null || dk != null;
        final float scale = (float) (1.0 / Math.sqrt(headDim));
        final boolean dropping = Attention.ProbsDropout.active(drop);
        final int n = batch * nHeads * seqLen;
        if (dropping) {
            drop.check(n);
            kern.dropoutBackwardMasked(drop.dropped(), probs, n, drop.p(), drop.keep(), false);
        }
        // Forward multiplied V by the dropped probabilities: dV and the gradient of those come from them.
        final float[] used = dropping ? drop.dropped() : probs;
        // With dropout the score gradients of all heads are made first, then masked in one pass.
        final float[] dsAll = dropping && scores ? new float[n] : null;
        if (dropping) {
            kern.parallelForDynamic(batch * nHeads, Attention.HEADS_PER_BLOCK * 4, (u0, u1) -> {
                for (int u = u0; u < u1; u++) {
                    int e = u / nHeads;
                    int kvOff = e * seqLen * hDim + (u % nHeads) * headDim;
                    int cOff = e * hDim + (u % nHeads) * headDim;
                    if (dv != null) {
                        kern.sgemmLocal(true, false, seqLen, headDim, 1, 1f, used, u * seqLen, seqLen, dctx, cOff, hDim,
                                0f, dv, kvOff, hDim);
                    }
                    if (scores) {
                        kern.sgemmLocal(false, true, 1, seqLen, headDim, 1f, dctx, cOff, hDim, v, kvOff, hDim, 0f,
                                dsAll, u * seqLen, seqLen);
                    }
                }
            });
            if (!scores) {
                return;
            }
            kern.dropoutBackwardMasked(dsAll, dsAll, n, drop.p(), drop.keep(), false);
            kern.parallelForDynamic(batch * nHeads, Attention.HEADS_PER_BLOCK * 4, (u0, u1) -> {
                for (int u = u0; u < u1; u++) {
                    int e = u / nHeads;
                    int kvOff = e * seqLen * hDim + (u % nHeads) * headDim;
                    kern.softmaxBackwardRowsLocal(probs, u * seqLen, dsAll, u * seqLen, 1, seqLen);
                    if (dq != null) {
                        kern.sgemmLocal(false, false, 1, headDim, seqLen, scale, dsAll, u * seqLen, seqLen, k, kvOff, hDim, 0f,
                                dq, kvOff, hDim);
                    }
                    if (dk != null) {
                        kern.sgemmLocal(true, false, seqLen, headDim, 1, scale, dsAll, u * seqLen, seqLen, q, kvOff, hDim, 0f,
                                dk, kvOff, hDim);
                    }
                }
            });
            return;
        }
        kern.parallelForDynamic(batch * nHeads, Attention.HEADS_PER_BLOCK * 4, (u0, u1) -> {
            float[] ds = new float[seqLen];
            for (int u = u0; u < u1; u++) {
                int e = u / nHeads;
                int h = u % nHeads;
                int kvOff = e * seqLen * hDim + h * headDim;
                int cOff = e * hDim + h * headDim;
                int pOff = u * seqLen;
                if (dv != null) {
                    // dV = p^T dctx: a [seqLen, 1] x [1, headDim] outer product.
                    kern.sgemmLocal(true, false, seqLen, headDim, 1, 1f, probs, pOff, seqLen, dctx, cOff, hDim,
                            0f, dv, kvOff, hDim);
                }
                if (!scores) {
                    continue;
                }
                // dp = dctx V^T, then through the softmax: ds = p * (dp - sum(dp * p)).
                kern.sgemmLocal(false, true, 1, seqLen, headDim, 1f, dctx, cOff, hDim, v, kvOff, hDim, 0f, ds, 0, seqLen);
                kern.softmaxBackwardRowsLocal(probs, pOff, ds, 0, 1, seqLen);
                // s = scale * q0 K^T: dq0 = scale * ds K, dK = scale * ds^T q0.
                if (dq != null) {
                    kern.sgemmLocal(false, false, 1, headDim, seqLen, scale, ds, 0, seqLen, k, kvOff, hDim, 0f,
                            dq, kvOff, hDim);
                }
                if (dk != null) {
                    kern.sgemmLocal(true, false, seqLen, headDim, 1, scale, ds, 0, seqLen, q, kvOff, hDim, 0f,
                            dk, kvOff, hDim);
                }
            }
        });
    }

    private static void checkShape(int batch, int seqLen, int nHeads, int headDim) {
        Checks.nonNegative(batch, "batch");
        Checks.positive(seqLen, "seqLen");
        Checks.positive(nHeads, "nHeads");
        Checks.positive(headDim, "headDim");
    }
}
