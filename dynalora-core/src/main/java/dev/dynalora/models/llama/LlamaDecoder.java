package dev.dynalora.models.llama;

import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.layers.Embedding;
import dev.dynalora.layers.RmsNorm;
import dev.dynalora.layers.Rope;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.WeightSource;
import dev.dynalora.tensor.Param;

import java.util.ArrayList;
import java.util.List;

/**
 * The Llama decoder body (Hugging Face's LlamaModel): token embedding, pre-norm blocks, final RMSNorm.
 * There are no position embeddings: positions enter through RoPE inside attention. Forward and backward
 * are written out as in {@code BertEncoder}; activations live in {@link LlamaActivations}.
 *
 * <p>Batches are right-padded: token i of every example is at position i, and padding keys are masked out
 * of attention from the batch's attention mask (with causal attention a right-padded batch needs no more;
 * left padding would also need positions shifted, which this does not do).
 */
public final class LlamaDecoder {
    /** Additive attention bias for padding keys: zeroes the weight, finite to avoid inf - inf. */
    static final float MASKED = -1e30f;

    private final LlamaConfig config;
    private final Param embedTokens;
    private final List<LlamaLayer> layers;
    private final Param norm;
    private final Rope rope;
    private LlamaActivations acts;
    private CachedBuffers cached;

    LlamaDecoder(LlamaConfig config, WeightSource weights) {
        this.config = config;
        int h = config.hiddenSize();
        embedTokens = weights.param("model.embed_tokens.weight", config.vocabSize(), h);
        List<LlamaLayer> ls = new ArrayList<>();
        for (int l = 0; l < config.numHiddenLayers(); l++) {
            ls.add(new LlamaLayer(config, weights, "model.layers." + l + "."));
        }
        layers = List.copyOf(ls);
        norm = weights.param("model.norm.weight", h);
        rope = new Rope(config.headDim(), config.maxPositionEmbeddings(), config.ropeTheta());
    }

    public LlamaConfig config() {
        return config;
    }

    public List<LlamaLayer> layers() {
        return layers;
    }

    public Param embedTokens() {
        return embedTokens;
    }

    public Param norm() {
        return norm;
    }

    /** Every parameter, in a stable order: embeddings, each layer, final norm. */
    public List<Param> params() {
        List<Param> p = new ArrayList<>(List.of(embedTokens));
        for (LlamaLayer l : layers) {
            p.addAll(l.params());
        }
        p.add(norm);
        return p;
    }

    /** Every projection of every block, in order: the places adapters can attach. */
    public List<LinearModule> linearModules() {
        List<LinearModule> m = new ArrayList<>();
        for (LlamaLayer l : layers) {
            m.addAll(l.linears());
        }
        return m;
    }

    private LlamaActivations activations(int batch, int seqLen, boolean forBackward) {
        if (acts == null || !acts.fits(batch, seqLen, forBackward)) {
            acts = new LlamaActivations(config, batch, seqLen, forBackward);
        }
        return acts;
    }

    /**
     * Runs the decoder on {@code batch.rows()} tokens; returns the final-norm output [rows, hidden] (a buffer
     * owned by the decoder, valid until the next forward). With keepForBackward the activations that
     * {@link #backward} needs are kept; without it, layers share buffers (inference).
     */
    public float[] forward(Kernels k, int[] ids, TokenBatch batch, boolean keepForBackward) {
        int t = batch.seqLen();
        int h = config.hiddenSize();
        int rows = batch.rows();
        if (t > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("sequence length " + t + " exceeds max_position_embeddings " + config.maxPositionEmbeddings());
        }
        LlamaActivations a = activations(batch.batch(), t, keepForBackward);
        int[] am = batch.attentionMask();
        for (int r = 0; r < rows; r++) {
            a.positions[r] = r % t;
            a.maskBias[r] = am[r] != 0 ? 0f : MASKED;
        }
        Embedding.forward(k, a.hidden[0], ids, embedTokens.data(), rows, h);
        for (int l = 0; l < layers.size(); l++) {
            layers.get(l).forward(k, a.hidden[l], a.layer[l], a.hidden[l + 1], batch, a.positions, a.maskBias, rope);
        }
        RmsNorm.forward(k, a.normed, a.finalRstd, a.hidden[layers.size()], norm.data(), rows, h, config.rmsNormEps());
        return a.normed;
    }

    /**
     * Runs new tokens of sequences held in a KV cache (generation): tokens[s] are appended to cache slot
     * slots[s] at its next positions, their keys and values are stored, and attention reads every earlier
     * position from the cache. Returns the final-norm output of each sequence's last new token,
     * [slots.length, hidden] (a buffer owned by the decoder, valid until the next call): only those rows
     * need logits, so the final norm runs on them alone.
     */
    public float[] forwardCached(Kernels k, KvCache cache, int[] slots, int[][] tokens) {
        CacheStep step = new CacheStep(cache, slots, tokens, config.vocabSize());
        int h = config.hiddenSize();
        int rows = step.rows;
        if (cached == null || cached.rows < rows || cached.segments < step.segments) {
            int r = cached == null ? rows : Math.max(rows, cached.rows);
            int s = cached == null ? step.segments : Math.max(step.segments, cached.segments);
            cached = new CachedBuffers(config, r, s);
        }
        CachedBuffers b = cached;
        float[] x = b.hiddenA;
        float[] y = b.hiddenB;
        Embedding.forward(k, x, step.ids, embedTokens.data(), rows, h);
        for (int l = 0; l < layers.size(); l++) {
            layers.get(l).forwardCached(k, x, b.layer, y, step, cache, l, rope);
            float[] t = x;
            x = y;
            y = t;
        }
        for (int s = 0; s < step.segments; s++) {
            cache.advance(step.slot[s], step.count[s]);
            System.arraycopy(x, step.lastRow(s) * h, b.last, s * h, h);
        }
        RmsNorm.forward(k, b.normed, null, b.last, norm.data(), step.segments, h, config.rmsNormEps());
        return b.normed;
    }

    /** Working buffers of {@link #forwardCached}: every layer shares one set, as in inference. */
    private static final class CachedBuffers {
        final int rows;
        final int segments;
        final float[] hiddenA;
        final float[] hiddenB;
        final float[] last;    // the segments' last rows of the top layer's output
        final float[] normed;  // their final-norm output
        final LlamaActivations.Layer layer;

        CachedBuffers(LlamaConfig c, int rows, int segments) {
            this.rows = rows;
            this.segments = segments;
            int h = c.hiddenSize();
            hiddenA = new float[rows * h];
            hiddenB = new float[rows * h];
            last = new float[segments * h];
            normed = new float[segments * h];
            layer = new LlamaActivations.Layer(c, 1, rows, null);
        }
    }

    /**
     * Backpropagates dNormed [rows, hidden] (the gradient of the last forward's output), accumulating the
     * gradients of every trainable parameter. Layers below the lowest one with anything trainable are not
     * visited unless the embedding trains; input gradients nobody reads are not computed.
     */
    public void backward(Kernels k, float[] dNormed, int[] ids, TokenBatch batch) {
        LlamaActivations a = acts;
        if (a == null || !a.forBackward) {
            throw new IllegalStateException("backward without a forward pass that kept its activations");
        }
        int rows = batch.rows();
        int h = config.hiddenSize();
        int top = layers.size();
        int lowest = top;
        for (int l = top - 1; l >= 0; l--) {
            if (layers.get(l).hasTrainable()) {
                lowest = l;
            }
        }
        boolean embTrainable = embedTokens.trainable();
        int stop = embTrainable ? 0 : lowest;
        float[] dx = a.dHiddenA;
        float[] dPrev = a.dHiddenB;
        // The final norm's input gradient is written (no zero fill), its gain gradient accumulated.
        RmsNorm.backward(k, stop < top ? dx : null, norm.grad(), dNormed, a.hidden[top], norm.data(), a.finalRstd,
                rows, h, true);
        for (int l = top - 1; l >= stop; l--) {
            boolean needInputGrad = l > lowest || embTrainable;
            if (needInputGrad) {
                float[] zeroed = dPrev;
                k.parallelFor(rows * h, (from, to) -> java.util.Arrays.fill(zeroed, from, to, 0f));
            }
            layers.get(l).backward(k, a.hidden[l], a.layer[l], dx, needInputGrad ? dPrev : null, batch, a.positions, rope);
            float[] tmp = dx;
            dx = dPrev;
            dPrev = tmp;
        }
        if (embTrainable) {
            Embedding.backward(k, embedTokens.grad(), dx, ids, rows, h);
        }
    }

    public long parameterCount() {
        return params().stream().mapToLong(p -> p.value().size()).sum();
    }
}
