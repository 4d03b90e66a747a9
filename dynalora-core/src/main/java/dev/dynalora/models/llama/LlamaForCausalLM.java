package dev.dynalora.models.llama;

import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.layers.CrossEntropy;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.WeightSource;
import dev.dynalora.tensor.Param;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Hugging Face's LlamaForCausalLM: the {@link LlamaDecoder} and a bias-free lm_head to vocabulary logits.
 * With tie_word_embeddings the head's weight is the embedding matrix itself (the same {@link Param}), so
 * a trainable embedding gets the gradients of both uses in one buffer, as in PyTorch.
 */
public final class LlamaForCausalLM {
    private final LlamaConfig config;
    private final LlamaDecoder model;
    private final LinearModule lmHead;

    private float[] logits = new float[0];
    private float[] dNormed = new float[0];
    private float[] lastNormed;
    private int[] lastIds;
    private int lastRows = -1;

    public LlamaForCausalLM(LlamaConfig config, WeightSource weights) {
        this.config = config;
        this.model = new LlamaDecoder(config, weights);
        Param head = config.tieWordEmbeddings() ? model.embedTokens()
                : weights.param("lm_head.weight", config.vocabSize(), config.hiddenSize());
        this.lmHead = new LinearModule("lm_head", head, null);
    }

    public LlamaConfig config() {
        return config;
    }

    public LlamaDecoder model() {
        return model;
    }

    public LinearModule lmHead() {
        return lmHead;
    }

    /** Every parameter once (a tied head adds none of its own). */
    public List<Param> params() {
        List<Param> p = new ArrayList<>(model.params());
        if (!config.tieWordEmbeddings()) {
            p.add(lmHead.weight());
        }
        return p;
    }

    /** The decoder's projections (model.layers.N.self_attn.q_proj, ...), where adapters attach. */
    public List<LinearModule> linearModules() {
        return model.linearModules();
    }

    /**
     * Logits [rows, vocab] for every token (a buffer owned by this object, valid until the next forward or
     * loss call). With keepForBackward the decoder keeps what {@link #backward} needs.
     */
    public float[] forward(Kernels k, int[] ids, TokenBatch batch, boolean keepForBackward) {
        int rows = batch.rows();
        float[] normed = model.forward(k, ids, batch, keepForBackward);
        long n = (long) rows * config.vocabSize();
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(rows + " tokens of " + config.vocabSize() + " logits exceed one Java array");
        }
        if (logits.length < n) {
            logits = new float[(int) n];
        }
        lmHead.forward(k, normed, logits, batch);
        lastNormed = normed;
        lastIds = ids;
        lastRows = rows;
        return logits;
    }

    /**
     * Generation's forward pass: appends tokens[s] to the sequence in KV cache slot slots[s] (a whole prompt
     * to prefill it, or the one token a decode step feeds back) and returns the logits of each sequence's
     * last new token, [slots.length, vocab] (a buffer owned by this object, valid until the next forward).
     * Earlier positions are read from the cache, never recomputed; lm_head runs on the last tokens only.
     * Adapters attached to the projections (or to lm_head) apply as in {@link #forward}.
     *
     * @throws IllegalArgumentException if a sequence would outgrow the cache (see {@link KvCache#capacity})
     */
    public float[] forwardCached(Kernels k, KvCache cache, int[] slots, int[][] tokens) {
        float[] normed = model.forwardCached(k, cache, slots, tokens);
        int rows = slots.length;
        long n = (long) rows * config.vocabSize();
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(rows + " sequences of " + config.vocabSize() + " logits exceed one Java array");
        }
        if (logits.length < n) {
            logits = new float[(int) n];
        }
        int[] ones = new int[rows];
        Arrays.fill(ones, 1);
        lmHead.forward(k, normed, logits, new TokenBatch(rows, 1, ones, false, 0, 0));
        lastRows = -1; // these logits have no backward
        return logits;
    }

    /**
     * Backpropagates dLogits [rows, vocab] through the head and the decoder, accumulating into the gradients
     * of every trainable parameter and adapter (zero them first). dLogits may be the buffer forward returned.
     */
    public void backward(Kernels k, float[] dLogits, TokenBatch batch) {
        int rows = batch.rows();
        if (rows != lastRows) {
            throw new IllegalStateException("backward for " + rows + " tokens after a forward of " + lastRows);
        }
        int h = config.hiddenSize();
        boolean decoderTrains = model.params().stream().anyMatch(Param::trainable)
                || model.linearModules().stream().anyMatch(m -> m.adapter() != null);
        if (!decoderTrains) {
            lmHead.backward(k, lastNormed, dLogits, null, batch);
            return;
        }
        if (dNormed.length < rows * h) {
            dNormed = new float[rows * h];
        }
        Arrays.fill(dNormed, 0, rows * h, 0f);
        lmHead.backward(k, lastNormed, dLogits, dNormed, batch);
        model.backward(k, dNormed, lastIds, batch);
    }

    /**
     * The mean next-token cross-entropy (see {@link CausalLmLoss}) without a backward pass. labels are aligned
     * with ids; null means the ids themselves with padding ignored.
     */
    public float loss(Kernels k, int[] ids, int[] labels, TokenBatch batch) {
        float[] lg = forward(k, ids, batch, false);
        int[] targets = targets(ids, labels, batch);
        return CrossEntropy.forward(k, lg, null, lg, targets, batch.rows(), config.vocabSize());
    }

    /**
     * One training pass: forward, the mean next-token cross-entropy, and backward, accumulating gradients
     * (zero them first). The logits buffer is turned into probabilities and then into the logit gradient
     * in place, so a step holds one [tokens, vocabulary] array, not three.
     */
    public float lossAndGradients(Kernels k, int[] ids, int[] labels, TokenBatch batch) {
        float[] lg = forward(k, ids, batch, true);
        int rows = batch.rows();
        int vocab = config.vocabSize();
        int[] targets = targets(ids, labels, batch);
        float loss = CrossEntropy.forward(k, lg, null, lg, targets, rows, vocab);
        CrossEntropy.backwardInPlace(k, lg, targets, rows, vocab, 1f);
        backward(k, lg, batch);
        return loss;
    }

    private static int[] targets(int[] ids, int[] labels, TokenBatch batch) {
        int[] l = labels != null ? labels : CausalLmLoss.labelsFromIds(ids, batch.attentionMask());
        return CausalLmLoss.shiftedTargets(l, batch.batch(), batch.seqLen());
    }
}
