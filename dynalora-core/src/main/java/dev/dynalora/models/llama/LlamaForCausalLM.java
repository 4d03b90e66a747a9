package dev.dynalora.models.llama;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.layers.CrossEntropy;
import dev.dynalora.models.CausalLm;
import dev.dynalora.models.DecodingCache;
import dev.dynalora.models.HfFolderSpec;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.PeftLayout;
import dev.dynalora.models.WeightSource;
import dev.dynalora.tensor.Param;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * Hugging Face's LlamaForCausalLM: the {@link LlamaDecoder} and a bias-free lm_head to vocabulary logits.
 * With tie_word_embeddings the head's weight is the embedding matrix itself (the same {@link Param}), so
 * a trainable embedding gets the gradients of both uses in one buffer, as in PyTorch.
 */
public final class LlamaForCausalLM implements CausalLm {
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

    @Override
    public List<Param> allParams() {
        return params();
    }

    /** None: a causal LM's head is the pretrained lm_head (tied to the embeddings in small Llamas). */
    @Override
    public List<Param> headParams() {
        return List.of();
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
    @Override
    public List<LinearModule> linearModules() {
        return model.linearModules();
    }

    /**
     * Files of the base folder a merged export copies when they exist: what AutoTokenizer reads for a Llama
     * (tokenizer.json or the SentencePiece tokenizer.model, with their configs) and generation_config.json, which
     * from_pretrained reads for generate()'s defaults (bos / eos / pad ids).
     */
    static final List<String> COPIED_FILES = List.of("tokenizer.json", "tokenizer_config.json", "tokenizer.model",
            "special_tokens_map.json", "added_tokens.json", "generation_config.json");

    /**
     * LlamaForCausalLM wrapped with task_type CAUSAL_LM: our names are Hugging Face's already
     * ("model.layers.0.self_attn.q_proj"), there is no head PEFT saves (modules_to_save stays null), and lm_head
     * is the output layer that PEFT's target matching sees but never adapts here.
     */
    @Override
    public PeftLayout peftLayout() {
        return new PeftLayout("CAUSAL_LM", "", Set.of(), List.of(), null, List.of(lmHead));
    }

    /** The base's config.json (our parsed fields written over it), as float32 weights of a LlamaForCausalLM. */
    @Override
    public HfFolderSpec hfFolder() {
        ObjectNode c = config.base().toJson();
        c.putArray("architectures").add("LlamaForCausalLM");
        c.put("torch_dtype", "float32");
        return new HfFolderSpec(c, COPIED_FILES);
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
    @Override
    public float[] forwardCached(Kernels k, DecodingCache cache, int[] slots, int[][] tokens) {
        if (!(cache instanceof KvCache kv)) {
            throw new IllegalArgumentException("not a cache of this model: " + cache);
        }
        float[] normed = model.forwardCached(k, kv, slots, tokens);
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

    @Override
    public String defaultTargets() {
        return "q_proj,v_proj";
    }

    @Override
    public int vocabSize() {
        return config.vocabSize();
    }

    @Override
    public int bosTokenId() {
        return config.bosTokenId();
    }

    @Override
    public int eosTokenId() {
        return config.eosTokenIds()[0];
    }

    @Override
    public int[] eosTokenIds() {
        return config.eosTokenIds().clone();
    }

    @Override
    public DecodingCache newDecodingCache(int slots, int capacity) {
        return new KvCache(config, slots, capacity);
    }

    @Override
    public int maxPositions() {
        return config.maxPositionEmbeddings();
    }

    @Override
    public float lossOnTargets(Kernels k, int[] ids, int[] targets, TokenBatch batch) {
        float[] lg = forward(k, ids, batch, false);
        return CrossEntropy.forward(k, lg, null, lg, targets, batch.rows(), config.vocabSize());
    }

    @Override
    public float lossAndGradientsOnTargets(Kernels k, int[] ids, int[] targets, TokenBatch batch) {
        return lossAndGradientsOnTargets(k, ids, targets, batch, -1);
    }

    @Override
    public float lossAndGradientsOnTargets(Kernels k, int[] ids, int[] targets, TokenBatch batch, long denominator) {
        float[] lg = forward(k, ids, batch, true);
        int rows = batch.rows();
        float loss = CrossEntropy.forward(k, lg, null, lg, targets, rows, config.vocabSize());
        if (denominator >= 0) {
            loss = CrossEntropy.share(loss, CrossEntropy.scored(targets, rows), denominator);
        }
        CrossEntropy.backwardInPlace(k, lg, targets, rows, config.vocabSize(), 1f, denominator);
        backward(k, lg, batch);
        return loss;
    }

    /**
     * Per layer, the float arrays a training step keeps for backward (LlamaActivations: norms, q/k/v, rotated
     * copies, attention probabilities, the MLP's three intermediate-sized arrays and their inputs), plus the
     * [tokens, vocabulary] logits and the gradients flowing back; counted generously (the guard must not pass a
     * run that then fails).
     */
    @Override
    public long trainingActivationBytes(int batch, int seqLen) {
        long tokens = (long) batch * seqLen;
        long h = config.hiddenSize();
        long perLayer = tokens * (12 * h + 4L * config.kvDim() + 4L * config.intermediateSize())
                + (long) batch * config.numAttentionHeads() * seqLen * seqLen;
        long logits = tokens * config.vocabSize();
        return 4 * (config.numHiddenLayers() * perLayer + logits + 8 * tokens * h);
    }

    private static int[] targets(int[] ids, int[] labels, TokenBatch batch) {
        int[] l = labels != null ? labels : CausalLmLoss.labelsFromIds(ids, batch.attentionMask());
        return CausalLmLoss.shiftedTargets(l, batch.batch(), batch.seqLen());
    }
}
