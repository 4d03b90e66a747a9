package dev.dynalora.models.bert;

import dev.dynalora.models.LinearModule;
import dev.dynalora.models.WeightSource;

import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.layers.Add;
import dev.dynalora.layers.Attention;
import dev.dynalora.layers.Dropout;
import dev.dynalora.layers.FirstTokenAttention;
import dev.dynalora.layers.Gelu;
import dev.dynalora.layers.LayerNorm;
import dev.dynalora.tensor.Param;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One post-layer-norm BERT block:
 * h1 = LN1(x + drop(O(attn(Q x, K x, V x)))); out = LN2(h1 + drop(Out(gelu(Inter h1)))), where attn applies
 * dropout to its probabilities (attention_probs_dropout_prob) and drop is hidden_dropout_prob, both in training
 * only, as in Hugging Face's BertLayer.
 */
public final class BertLayer {
    /** Additive attention bias for padding keys: large enough to zero the weight, finite to avoid inf - inf. */
    static final float MASKED = -1e30f;

    private final int hidden;
    private final int intermediate;
    private final int heads;
    private final float eps;
    private final float dropP;
    private final float attnDropP;
    private final LinearModule query;
    private final LinearModule key;
    private final LinearModule value;
    private final LinearModule attnOut;
    private final LinearModule inter;
    private final LinearModule out;
    private final Param ln1w;
    private final Param ln1b;
    private final Param ln2w;
    private final Param ln2b;

    BertLayer(ModelConfig c, WeightSource w, String p) {
        hidden = c.hiddenSize();
        intermediate = c.intermediateSize();
        heads = c.numAttentionHeads();
        eps = (float) c.layerNormEps();
        dropP = (float) c.hiddenDropoutProb();
        attnDropP = (float) c.attentionProbsDropoutProb();
        query = w.linear(p + "attention.self.query", hidden, hidden);
        key = w.linear(p + "attention.self.key", hidden, hidden);
        value = w.linear(p + "attention.self.value", hidden, hidden);
        attnOut = w.linear(p + "attention.output.dense", hidden, hidden);
        ln1w = w.param(p + "attention.output.LayerNorm.weight", hidden);
        ln1b = w.param(p + "attention.output.LayerNorm.bias", hidden);
        inter = w.linear(p + "intermediate.dense", hidden, intermediate);
        out = w.linear(p + "output.dense", intermediate, hidden);
        ln2w = w.param(p + "output.LayerNorm.weight", hidden);
        ln2b = w.param(p + "output.LayerNorm.bias", hidden);
    }

    public List<LinearModule> linears() {
        return List.of(query, key, value, attnOut, inter, out);
    }

    public List<Param> params() {
        List<Param> p = new ArrayList<>();
        for (LinearModule m : linears()) {
            p.add(m.weight());
            p.add(m.bias());
        }
        p.addAll(List.of(ln1w, ln1b, ln2w, ln2b));
        return p;
    }

    /** Dropout stream id for a site in a layer, so each site draws an independent mask. */
    private static long stream(TokenBatch b, int layer, int site) {
        return b.step() * 1024 + 16 + layer * 4L + site;
    }

    void forward(Kernels k, float[] x, BertActivations.Layer a, float[] result, TokenBatch batch, float[] maskBias, int layerIndex) {
        int rows = batch.rows();
        int hd = hidden / heads;
        query.forward(k, x, a.q, batch);
        key.forward(k, x, a.k, batch);
        value.forward(k, x, a.v, batch);
        // Without a backward pass to follow (a.grads == null) the attention probabilities are not kept:
        // Attention then softmaxes each head in a per-thread scratch that stays in cache.
        float[] probs = a.grads == null ? null : a.probs;
        Attention.forward(k, a.ctx, probs, a.q, a.k, a.v, maskBias, batch.batch(), batch.seqLen(), heads, hd, false,
                probsDropout(a, batch, layerIndex));
        attnOut.forward(k, a.ctx, a.attn, batch);
        dropoutInPlace(k, a.attn, rows * hidden, batch, stream(batch, layerIndex, 0), a.keepAttn);
        // res1 = attn + x and its layer norm in one parallel pass.
        LayerNorm.forwardResidual(k, a.h1, a.res1, a.mean1, a.rstd1, a.attn, x, ln1w.data(), ln1b.data(), rows, hidden, eps);
        inter.forward(k, a.h1, a.pre, batch);
        Gelu.forward(k, a.act, a.pre, rows * intermediate);
        out.forward(k, a.act, a.ffn, batch);
        dropoutInPlace(k, a.ffn, rows * hidden, batch, stream(batch, layerIndex, 1), a.keepFfn);
        LayerNorm.forwardResidual(k, result, a.res2, a.mean2, a.rstd2, a.ffn, a.h1, ln2w.data(), ln2b.data(), rows, hidden, eps);
    }

    /**
     * Whether {@link #forwardFirstTokens} gives the first tokens exactly what {@link #forward} gives them: the
     * modules after the attention run on the first tokens alone there, which is only the same computation when
     * they have no adapter (an adapter may look at a whole example, as Dynamic LoRA's gate does).
     */
    boolean firstTokensExact() {
        return attnOut.adapter() == null && inter.adapter() == null && out.adapter() == null;
    }

    /**
     * The layer for a reader of each example's first token only (a [CLS] classifier on the last layer):
     * result [batch, hidden] holds the output rows of the tokens at positions 0, one per example. Queries,
     * keys and values are projected for every token (the adapters on them see the whole batch, as in
     * {@link #forward}); the attention, output projection, feed-forward block and layer norms run on the
     * first tokens only. Activations are kept in the first rows of the layer's buffers.
     */
    void forwardFirstTokens(Kernels k, float[] x, BertActivations.Layer a, float[] result, TokenBatch batch,
                            float[] maskBias, int layerIndex) {
        int b = batch.batch();
        int t = batch.seqLen();
        int hd = hidden / heads;
        query.forward(k, x, a.q, batch);
        key.forward(k, x, a.k, batch);
        value.forward(k, x, a.v, batch);
        float[] probs = a.grads == null ? null : a.probs;
        FirstTokenAttention.forward(k, a.ctx, probs, a.q, a.k, a.v, maskBias, b, t, heads, hd, probsDropout(a, batch, layerIndex));
        TokenBatch first = firstTokens(batch);
        attnOut.forward(k, a.ctx, a.attn, first);
        dropoutInPlace(k, a.attn, b * hidden, batch, stream(batch, layerIndex, 0), a.keepAttn);
        // The residual's first rows, gathered into ffn (free until the FFN output below overwrites it).
        for (int e = 0; e < b; e++) {
            System.arraycopy(x, e * t * hidden, a.ffn, e * hidden, hidden);
        }
        LayerNorm.forwardResidual(k, a.h1, a.res1, a.mean1, a.rstd1, a.attn, a.ffn, ln1w.data(), ln1b.data(), b, hidden, eps);
        inter.forward(k, a.h1, a.pre, first);
        Gelu.forward(k, a.act, a.pre, b * intermediate);
        out.forward(k, a.act, a.ffn, first);
        dropoutInPlace(k, a.ffn, b * hidden, batch, stream(batch, layerIndex, 1), a.keepFfn);
        LayerNorm.forwardResidual(k, result, a.res2, a.mean2, a.rstd2, a.ffn, a.h1, ln2w.data(), ln2b.data(), b, hidden, eps);
    }

    /** The first tokens as a batch of one-token examples (for the modules that run on them alone). */
    private static TokenBatch firstTokens(TokenBatch batch) {
        int[] ones = new int[batch.batch()];
        Arrays.fill(ones, 1);
        return batch.reshaped(batch.batch(), 1, ones);
    }

    /**
     * Backward of {@link #forwardFirstTokens}: dOut [batch, hidden] is the gradient of the first tokens'
     * outputs (the only ones that exist); accumulates into dx [rows, hidden] (the gradient of the layer's
     * input, every row) when not null.
     */
    void backwardFirstTokens(Kernels k, float[] x, BertActivations.Layer a, float[] dOut, float[] dx, TokenBatch batch,
                             int layerIndex) {
        int b = batch.batch();
        int t = batch.seqLen();
        int n = b * hidden;
        int hd = hidden / heads;
        BertActivations.Grads g = a.grads;
        TokenBatch first = firstTokens(batch);
        float[] dRes2 = g.dH1;
        LayerNorm.backward(k, dRes2, ln2w.grad(), ln2b.grad(), dOut, a.res2, ln2w.data(), a.mean2, a.rstd2, b, hidden, true);
        float[] dFfn = dropoutBackward(k, dRes2, g.dDrop, n, batch, a.keepFfn);
        zero(k, g.dAct, b * intermediate);
        out.backward(k, a.act, dFfn, g.dAct, first);
        Gelu.backwardInPlace(k, a.pre, g.dAct, b * intermediate);
        inter.backward(k, a.h1, g.dAct, g.dH1, first);
        LayerNorm.backward(k, g.dRes, ln1w.grad(), ln1b.grad(), g.dH1, a.res1, ln1w.data(), a.mean1, a.rstd1, b, hidden, true);
        if (dx != null) {
            // The residual branch reaches the input at the first tokens only.
            for (int e = 0; e < b; e++) {
                k.accumulate(dx, e * t * hidden, g.dRes, e * hidden, hidden);
            }
        }
        float[] dAttn = dropoutBackward(k, g.dRes, g.dDrop, n, batch, a.keepAttn);
        zero(k, g.dCtx, n);
        attnOut.backward(k, a.ctx, dAttn, g.dCtx, first);
        // Only the first tokens' queries get a gradient; the other rows of dQ stay zero.
        if (dx != null || query.needsGradientWithoutInput()) {
            zero(k, g.dQ, batch.rows() * hidden);
        }
        float[] dQ = dx != null || query.needsGradientWithoutInput() ? g.dQ : null;
        float[] dK = dx != null || key.needsGradientWithoutInput() ? g.dK : null;
        float[] dV = dx != null || value.needsGradientWithoutInput() ? g.dV : null;
        FirstTokenAttention.backward(k, dQ, dK, dV, g.dCtx, a.probs, a.q, a.k, a.v, b, t, heads, hd,
                probsDropout(a, batch, layerIndex));
        backwardIf(k, query, x, dQ, dx, batch);
        backwardIf(k, key, x, dK, dx, batch);
        backwardIf(k, value, x, dV, dx, batch);
    }

    /**
     * The attention-probability dropout of this layer in a training step (the config's
     * attention_probs_dropout_prob, on its own stream), or null: not training, a rate of 0, or no backward to
     * follow.
     */
    private Attention.ProbsDropout probsDropout(BertActivations.Layer a, TokenBatch batch, int layerIndex) {
        if (!batch.training() || attnDropP == 0f || a.grads == null) {
            return null;
        }
        return new Attention.ProbsDropout(attnDropP, batch.dropoutSeed(), stream(batch, layerIndex, 2), a.keepProbs,
                a.grads.droppedProbs, batch.firstExample());
    }

    /**
     * Dropout of a site in place. When a backward pass can follow (keep has room), the keep mask is
     * recorded so backward applies it instead of hashing every element again.
     */
    private void dropoutInPlace(Kernels k, float[] v, int n, TokenBatch batch, long stream, long[] keep) {
        if (batch.training() && dropP > 0f) {
            if (keep.length >= Dropout.maskWords(n)) {
                Dropout.forward(k, v, v, n, dropP, batch.dropoutSeed(), stream, batch.dropoutOffset(n), keep);
            } else {
                Dropout.forward(k, v, v, n, dropP, batch.dropoutSeed(), stream, batch.dropoutOffset(n), null);
            }
        }
    }

    /** The gradient through a dropout site: dy itself when dropout is off, else written into scratch. */
    private float[] dropoutBackward(Kernels k, float[] dy, float[] scratch, int n, TokenBatch batch, long[] keep) {
        if (!batch.training() || dropP == 0f) {
            return dy;
        }
        // Overwrites scratch (no zero fill needed), from the mask the forward pass recorded.
        Dropout.backward(k, scratch, dy, n, dropP, keep, false);
        return scratch;
    }

    /** Zeroes a[0, n) on all threads: the big gradient buffers are tens of MB, a memory-bound fill. */
    private static void zero(Kernels k, float[] a, int n) {
        k.parallelFor(n, (from, to) -> Arrays.fill(a, from, to, 0f));
    }

    /**
     * dOut is the gradient of this layer's output (only read); accumulates into dx (the gradient of its
     * input) when not null. Scratch buffers that a kernel overwrites are not zero-filled first.
     */
    void backward(Kernels k, float[] x, BertActivations.Layer a, float[] dOut, float[] dx, TokenBatch batch, int layerIndex) {
        int rows = batch.rows();
        int n = rows * hidden;
        int hd = hidden / heads;
        BertActivations.Grads g = a.grads;
        // LN2, written straight into dH1: the residual passes dres2 on to h1 unchanged, and the FFN branch
        // below adds to it. The FFN branch reads dres2 (or its dropout) before inter.backward accumulates
        // into dH1, so the two can share the buffer.
        float[] dRes2 = g.dH1;
        LayerNorm.backward(k, dRes2, ln2w.grad(), ln2b.grad(), dOut, a.res2, ln2w.data(), a.mean2, a.rstd2, rows, hidden, true);
        float[] dFfn = dropoutBackward(k, dRes2, g.dDrop, n, batch, a.keepFfn);
        zero(k, g.dAct, rows * intermediate);
        out.backward(k, a.act, dFfn, g.dAct, batch);
        // dAct becomes dPre in place (no separate zero-filled buffer).
        Gelu.backwardInPlace(k, a.pre, g.dAct, rows * intermediate);
        inter.backward(k, a.h1, g.dAct, g.dH1, batch);
        // LN1: dres1 (written, not accumulated)
        LayerNorm.backward(k, g.dRes, ln1w.grad(), ln1b.grad(), g.dH1, a.res1, ln1w.data(), a.mean1, a.rstd1, rows, hidden, true);
        Add.accumulate(k, dx, g.dRes, n);
        float[] dAttn = dropoutBackward(k, g.dRes, g.dDrop, n, batch, a.keepAttn);
        zero(k, g.dCtx, n);
        attnOut.backward(k, a.ctx, dAttn, g.dCtx, batch);
        // dQ, dK, dV are written by the attention backward (overwrite), not accumulated. Without an input
        // gradient (the lowest layer above frozen embeddings) a projection with nothing trainable needs none.
        float[] dQ = dx != null || query.needsGradientWithoutInput() ? g.dQ : null;
        float[] dK = dx != null || key.needsGradientWithoutInput() ? g.dK : null;
        float[] dV = dx != null || value.needsGradientWithoutInput() ? g.dV : null;
        Attention.backward(k, dQ, dK, dV, g.dProbs, g.dCtx, a.probs, a.q, a.k, a.v, batch.batch(), batch.seqLen(),
                heads, hd, true, probsDropout(a, batch, layerIndex));
        backwardIf(k, query, x, dQ, dx, batch);
        backwardIf(k, key, x, dK, dx, batch);
        backwardIf(k, value, x, dV, dx, batch);
    }

    private static void backwardIf(Kernels k, LinearModule m, float[] x, float[] dy, float[] dx, TokenBatch batch) {
        if (dy != null) {
            m.backward(k, x, dy, dx, batch);
        }
    }
}
