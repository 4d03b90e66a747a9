package dev.dynalora.models.llama;

import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.layers.Add;
import dev.dynalora.layers.Attention;
import dev.dynalora.layers.CachedAttention;
import dev.dynalora.layers.RmsNorm;
import dev.dynalora.layers.Rope;
import dev.dynalora.layers.SwiGlu;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.WeightSource;
import dev.dynalora.tensor.Param;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One pre-norm Llama block (Hugging Face's LlamaDecoderLayer):
 * <pre>
 *   h1  = x + o_proj(attn(rope(q_proj(n1)), rope(k_proj(n1)), v_proj(n1)))   n1 = input_layernorm(x)
 *   out = h1 + down_proj(silu(gate_proj(n2)) * up_proj(n2))                   n2 = post_attention_layernorm(h1)
 * </pre>
 * with causal grouped-query attention. The seven projections are {@link LinearModule}s named as in the
 * checkpoint (model.layers.N.self_attn.q_proj, ...), which is where LoRA adapters attach; LoRA on q_proj
 * and k_proj acts before RoPE, as PEFT's does.
 */
public final class LlamaLayer {
    private final int hidden;
    private final int intermediate;
    private final int heads;
    private final int kvHeads;
    private final int headDim;
    private final float eps;
    private final Param inputNorm;
    private final LinearModule q;
    private final LinearModule k;
    private final LinearModule v;
    private final LinearModule o;
    private final Param postNorm;
    private final LinearModule gate;
    private final LinearModule up;
    private final LinearModule down;

    LlamaLayer(LlamaConfig c, WeightSource w, String p) {
        hidden = c.hiddenSize();
        intermediate = c.intermediateSize();
        heads = c.numAttentionHeads();
        kvHeads = c.numKeyValueHeads();
        headDim = c.headDim();
        eps = c.rmsNormEps();
        int kv = c.kvDim();
        inputNorm = w.param(p + "input_layernorm.weight", hidden);
        q = w.linear(p + "self_attn.q_proj", hidden, hidden, false);
        k = w.linear(p + "self_attn.k_proj", hidden, kv, false);
        v = w.linear(p + "self_attn.v_proj", hidden, kv, false);
        o = w.linear(p + "self_attn.o_proj", hidden, hidden, false);
        postNorm = w.param(p + "post_attention_layernorm.weight", hidden);
        gate = w.linear(p + "mlp.gate_proj", hidden, intermediate, false);
        up = w.linear(p + "mlp.up_proj", hidden, intermediate, false);
        down = w.linear(p + "mlp.down_proj", intermediate, hidden, false);
    }

    /** The projections in Hugging Face's module order: the places adapters can attach. */
    public List<LinearModule> linears() {
        return List.of(q, k, v, o, gate, up, down);
    }

    public List<Param> params() {
        List<Param> p = new ArrayList<>(List.of(inputNorm));
        for (LinearModule m : linears().subList(0, 4)) {
            p.add(m.weight());
        }
        p.add(postNorm);
        for (LinearModule m : linears().subList(4, 7)) {
            p.add(m.weight());
        }
        return p;
    }

    /** Whether backward has anything to do for this layer's own parameters or adapters. */
    boolean hasTrainable() {
        return inputNorm.trainable() || postNorm.trainable() || linears().stream().anyMatch(LlamaLayer::trains);
    }

    private static boolean trains(LinearModule m) {
        return m.weight().trainable() || m.adapter() != null;
    }

    /** result = the block applied to x; the activations backward needs are left in a. */
    void forward(Kernels kern, float[] x, LlamaActivations.Layer a, float[] result, TokenBatch batch,
                 int[] positions, float[] maskBias, Rope rope) {
        int rows = batch.rows();
        RmsNorm.forward(kern, a.xn1, a.rstd1, x, inputNorm.data(), rows, hidden, eps);
        q.forward(kern, a.xn1, a.q, batch);
        k.forward(kern, a.xn1, a.k, batch);
        v.forward(kern, a.xn1, a.v, batch);
        rope.forward(kern, a.q, a.q, positions, rows, heads);
        rope.forward(kern, a.k, a.k, positions, rows, kvHeads);
        Attention.forward(kern, a.ctx, a.probs, a.q, a.k, a.v, maskBias, batch.batch(), batch.seqLen(),
                heads, kvHeads, headDim, true);
        outputAndMlp(kern, x, a, result, batch);
    }

    /**
     * The block for new tokens of sequences held in a KV cache (generation): as {@link #forward}, but each
     * row has its own sequence and position (see {@link CacheStep}), the new keys and values are stored in
     * the cache, and attention reads every earlier position from there. Nothing is kept for backward. The
     * projections run through {@link LinearModule#forward}, so attached adapters apply here too.
     */
    void forwardCached(Kernels kern, float[] x, LlamaActivations.Layer a, float[] result, CacheStep step,
                       KvCache cache, int layerIndex, Rope rope) {
        int rows = step.rows;
        TokenBatch batch = step.rowBatch;
        RmsNorm.forward(kern, a.xn1, null, x, inputNorm.data(), rows, hidden, eps);
        q.forward(kern, a.xn1, a.q, batch);
        k.forward(kern, a.xn1, a.k, batch);
        v.forward(kern, a.xn1, a.v, batch);
        rope.forward(kern, a.q, a.q, step.positions, rows, heads);
        rope.forward(kern, a.k, a.k, step.positions, rows, kvHeads);
        for (int s = 0; s < step.segments; s++) {
            int slot = step.slot[s];
            cache.write(layerIndex, slot, step.start[s], a.k, a.v, step.firstRow[s], step.count[s]);
            step.keys[s] = cache.keys(layerIndex, slot);
            step.values[s] = cache.values(layerIndex, slot);
        }
        CachedAttention.forward(kern, a.ctx, a.q, step.keys, step.values, step.firstRow, step.count, step.start,
                step.segments, heads, kvHeads, headDim);
        outputAndMlp(kern, x, a, result, batch);
    }

    /** h1 = x + o_proj(ctx); result = h1 + mlp(post_attention_layernorm(h1)): the block after attention. */
    private void outputAndMlp(Kernels kern, float[] x, LlamaActivations.Layer a, float[] result, TokenBatch batch) {
        int rows = batch.rows();
        int n = rows * hidden;
        o.forward(kern, a.ctx, a.h1, batch);
        Add.accumulate(kern, a.h1, x, n);
        RmsNorm.forward(kern, a.xn2, a.rstd2, a.h1, postNorm.data(), rows, hidden, eps);
        gate.forward(kern, a.xn2, a.gate, batch);
        up.forward(kern, a.xn2, a.up, batch);
        SwiGlu.forward(kern, a.act, a.gate, a.up, rows * intermediate);
        down.forward(kern, a.act, result, batch);
        Add.accumulate(kern, result, a.h1, n);
    }

    /** Zeroes a[0, n) on all threads (the gradient buffers are activation-sized). */
    private static void zero(Kernels k, float[] a, int n) {
        k.parallelFor(n, (from, to) -> Arrays.fill(a, from, to, 0f));
    }

    /**
     * dOut is the gradient of this layer's output (only read); accumulates into dx (the gradient of its
     * input x) when not null, and into the gradients of every trainable parameter and adapter. Work whose
     * only consumer is frozen is skipped: without dx and with nothing trainable in the attention input side
     * (input norm, q/k/v), attention's backward does not run.
     */
    void backward(Kernels kern, float[] x, LlamaActivations.Layer a, float[] dOut, float[] dx, TokenBatch batch,
                  int[] positions, Rope rope) {
        int rows = batch.rows();
        int n = rows * hidden;
        int ni = rows * intermediate;
        LlamaActivations.Grads g = a.grads;
        // MLP block. The residual passes dOut to h1 unchanged; the MLP's input gradient is added on top.
        System.arraycopy(dOut, 0, g.dH1, 0, n);
        zero(kern, g.dAct, ni);
        down.backward(kern, a.act, dOut, g.dAct, batch);
        // dAct becomes dGate in place; dUp is written.
        SwiGlu.backward(kern, g.dAct, g.dUp, g.dAct, a.gate, a.up, ni);
        zero(kern, g.dXn, n);
        gate.backward(kern, a.xn2, g.dAct, g.dXn, batch);
        up.backward(kern, a.xn2, g.dUp, g.dXn, batch);
        RmsNorm.backward(kern, g.dH1, postNorm.grad(), g.dXn, a.h1, postNorm.data(), a.rstd2, rows, hidden, false);
        // Attention block: dH1 is now the gradient of h1 = x + o_proj(...).
        Add.accumulate(kern, dx, g.dH1, n);
        boolean inputSide = dx != null || inputNorm.trainable() || trains(q) || trains(k) || trains(v);
        if (!inputSide) {
            o.backward(kern, a.ctx, g.dH1, null, batch);
            return;
        }
        zero(kern, g.dCtx, n);
        o.backward(kern, a.ctx, g.dH1, g.dCtx, batch);
        // dQ, dK, dV are written (overwrite), then rotated back to the projections' outputs in place.
        Attention.backward(kern, g.dQ, g.dK, g.dV, g.dScores, g.dCtx, a.probs, a.q, a.k, a.v,
                batch.batch(), batch.seqLen(), heads, kvHeads, headDim, true);
        rope.backward(kern, g.dQ, g.dQ, positions, rows, heads);
        rope.backward(kern, g.dK, g.dK, positions, rows, kvHeads);
        boolean needXn1 = dx != null || inputNorm.trainable();
        float[] dXn1 = needXn1 ? g.dXn : null;
        if (needXn1) {
            zero(kern, dXn1, n);
        }
        q.backward(kern, a.xn1, g.dQ, dXn1, batch);
        k.backward(kern, a.xn1, g.dK, dXn1, batch);
        v.backward(kern, a.xn1, g.dV, dXn1, batch);
        if (needXn1) {
            RmsNorm.backward(kern, dx, inputNorm.grad(), dXn1, x, inputNorm.data(), a.rstd1, rows, hidden, false);
        }
    }
}
