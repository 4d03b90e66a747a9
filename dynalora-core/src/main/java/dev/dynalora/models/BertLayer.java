package dev.dynalora.models;

import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.layers.Attention;
import dev.dynalora.layers.Dropout;
import dev.dynalora.layers.Gelu;
import dev.dynalora.layers.LayerNorm;
import dev.dynalora.tensor.Param;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One post-layer-norm BERT block:
 * h1 = LN1(x + drop(O(attn(Q x, K x, V x)))); out = LN2(h1 + drop(Out(gelu(Inter h1)))).
 */
public final class BertLayer {
    /** Additive attention bias for padding keys: large enough to zero the weight, finite to avoid inf - inf. */
    static final float MASKED = -1e30f;

    private final int hidden;
    private final int intermediate;
    private final int heads;
    private final float eps;
    private final float dropP;
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
        Attention.forward(k, a.ctx, a.probs, a.q, a.k, a.v, maskBias, batch.batch(), batch.seqLen(), heads, hd, false);
        attnOut.forward(k, a.ctx, a.attn, batch);
        dropoutInPlace(k, a.attn, rows * hidden, batch, stream(batch, layerIndex, 0));
        for (int i = 0; i < rows * hidden; i++) {
            a.res1[i] = a.attn[i] + x[i];
        }
        LayerNorm.forward(k, a.h1, a.mean1, a.rstd1, a.res1, ln1w.data(), ln1b.data(), rows, hidden, eps);
        inter.forward(k, a.h1, a.pre, batch);
        Gelu.forward(k, a.act, a.pre, rows * intermediate);
        out.forward(k, a.act, a.ffn, batch);
        dropoutInPlace(k, a.ffn, rows * hidden, batch, stream(batch, layerIndex, 1));
        for (int i = 0; i < rows * hidden; i++) {
            a.res2[i] = a.ffn[i] + a.h1[i];
        }
        LayerNorm.forward(k, result, a.mean2, a.rstd2, a.res2, ln2w.data(), ln2b.data(), rows, hidden, eps);
    }

    private void dropoutInPlace(Kernels k, float[] v, int n, TokenBatch batch, long stream) {
        if (batch.training() && dropP > 0f) {
            Dropout.forward(k, v, v, n, dropP, batch.dropoutSeed(), stream);
        }
    }

    /** The gradient through a dropout site: dy itself when dropout is off, else written into scratch. */
    private float[] dropoutBackward(Kernels k, float[] dy, float[] scratch, int n, TokenBatch batch, long stream) {
        if (!batch.training() || dropP == 0f) {
            return dy;
        }
        Arrays.fill(scratch, 0, n, 0f);
        Dropout.backward(k, scratch, dy, n, dropP, batch.dropoutSeed(), stream);
        return scratch;
    }

    /**
     * dOut is the gradient of this layer's output; accumulates into dx (the gradient of its input) when
     * not null. dOut is used as scratch.
     */
    void backward(Kernels k, float[] x, BertActivations.Layer a, float[] dOut, float[] dx, TokenBatch batch, int layerIndex) {
        int rows = batch.rows();
        int n = rows * hidden;
        int hd = hidden / heads;
        BertActivations.Grads g = a.grads;
        // LN2: dres2
        Arrays.fill(g.dRes, 0, n, 0f);
        LayerNorm.backward(k, g.dRes, ln2w.grad(), ln2b.grad(), dOut, a.res2, ln2w.data(), a.mean2, a.rstd2, rows, hidden);
        // residual: dh1 = dres2 (+ from the FFN below)
        System.arraycopy(g.dRes, 0, g.dH1, 0, n);
        float[] dFfn = dropoutBackward(k, g.dRes, g.dDrop, n, batch, stream(batch, layerIndex, 1));
        Arrays.fill(g.dAct, 0, rows * intermediate, 0f);
        out.backward(k, a.act, dFfn, g.dAct, batch);
        Arrays.fill(g.dPre, 0, rows * intermediate, 0f);
        Gelu.backward(k, g.dPre, a.pre, g.dAct, rows * intermediate);
        inter.backward(k, a.h1, g.dPre, g.dH1, batch);
        // LN1: dres1
        Arrays.fill(g.dRes, 0, n, 0f);
        LayerNorm.backward(k, g.dRes, ln1w.grad(), ln1b.grad(), g.dH1, a.res1, ln1w.data(), a.mean1, a.rstd1, rows, hidden);
        if (dx != null) {
            for (int i = 0; i < n; i++) {
                dx[i] += g.dRes[i];
            }
        }
        float[] dAttn = dropoutBackward(k, g.dRes, g.dDrop, n, batch, stream(batch, layerIndex, 0));
        Arrays.fill(g.dCtx, 0, n, 0f);
        attnOut.backward(k, a.ctx, dAttn, g.dCtx, batch);
        Arrays.fill(g.dQ, 0, n, 0f);
        Arrays.fill(g.dK, 0, n, 0f);
        Arrays.fill(g.dV, 0, n, 0f);
        Attention.backward(k, g.dQ, g.dK, g.dV, g.dProbs, g.dCtx, a.probs, a.q, a.k, a.v, batch.batch(), batch.seqLen(), heads, hd);
        query.backward(k, x, g.dQ, dx, batch);
        key.backward(k, x, g.dK, dx, batch);
        value.backward(k, x, g.dV, dx, batch);
    }
}
