package dev.dynalora.models.bert;

import dev.dynalora.models.LinearModule;
import dev.dynalora.models.WeightSource;

import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.layers.Dropout;
import dev.dynalora.layers.Embedding;
import dev.dynalora.layers.LayerNorm;
import dev.dynalora.tensor.Param;
import dev.dynalora.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The BERT encoder (Hugging Face BertModel without pooler): word + position + token-type embeddings, layer
 * norm, then post-layer-norm transformer blocks. Forward and backward are written out explicitly (llm.c
 * style); activations live in {@link BertActivations}, allocated once per batch shape and reused.
 * Parameter names are Hugging Face's without the {@code bert.} prefix.
 */
public final class BertEncoder {
    private final ModelConfig config;
    private final Param wordEmbeddings;
    private final Param positionEmbeddings;
    private final Param tokenTypeEmbeddings;
    private final Param embLnWeight;
    private final Param embLnBias;
    private final List<BertLayer> layers;
    private BertActivations acts;
    /** Whether the last forward ran the last layer on the first tokens alone (its backward must too). */
    private boolean lastFirstTokensOnly;

    public BertEncoder(ModelConfig config, WeightSource weights) {
        this.config = config;
        int h = config.hiddenSize();
        wordEmbeddings = weights.param("embeddings.word_embeddings.weight", config.vocabSize(), h);
        positionEmbeddings = weights.param("embeddings.position_embeddings.weight", config.maxPositionEmbeddings(), h);
        tokenTypeEmbeddings = weights.param("embeddings.token_type_embeddings.weight", config.typeVocabSize(), h);
        embLnWeight = weights.param("embeddings.LayerNorm.weight", h);
        embLnBias = weights.param("embeddings.LayerNorm.bias", h);
        List<BertLayer> ls = new ArrayList<>();
        for (int l = 0; l < config.numHiddenLayers(); l++) {
            ls.add(new BertLayer(config, weights, "encoder.layer." + l + "."));
        }
        layers = List.copyOf(ls);
    }

    public ModelConfig config() {
        return config;
    }

    public List<BertLayer> layers() {
        return layers;
    }

    /** Every parameter, in a stable order (embeddings, then each layer). */
    public List<Param> params() {
        List<Param> p = new ArrayList<>(List.of(wordEmbeddings, positionEmbeddings, tokenTypeEmbeddings, embLnWeight, embLnBias));
        for (BertLayer l : layers) {
            p.addAll(l.params());
        }
        return p;
    }

    public List<Param> embeddingParams() {
        return List.of(wordEmbeddings, positionEmbeddings, tokenTypeEmbeddings, embLnWeight, embLnBias);
    }

    /** Every linear layer of every block, in order: the places adapters can attach. */
    public List<LinearModule> linearModules() {
        List<LinearModule> m = new ArrayList<>();
        for (BertLayer l : layers) {
            m.addAll(l.linears());
        }
        return m;
    }

    BertActivations activations(int batch, int seqLen, boolean forBackward) {
        if (acts == null || !acts.fits(batch, seqLen, forBackward)) {
            acts = new BertActivations(config, batch, seqLen, forBackward);
        }
        acts.setShape(batch, seqLen);
        return acts;
    }

    /**
     * Runs the encoder on {@code batch.rows()} tokens; returns the last hidden state [rows, hidden] (a buffer
     * owned by the encoder, valid until the next forward). With keepForBackward the activations needed by
     * {@link #backward} are kept; without it, layers share buffers (inference).
     */
    public float[] forward(Kernels k, int[] ids, int[] typeIds, TokenBatch batch, boolean keepForBackward) {
        return run(k, ids, typeIds, batch, keepForBackward, false);
    }

    /**
     * Runs the encoder for a reader of each example's first token only (a [CLS] classifier); returns those
     * tokens' last hidden states, [batch, hidden] (a buffer owned by the encoder, valid until the next
     * forward). When the last layer's modules after the attention carry no adapter, that layer computes the
     * first tokens alone (see {@link BertLayer#forwardFirstTokens}): the same numbers as {@link #forward}'s
     * rows at positions 0, up to rounding, for about 13% less work per training step of a 6-layer model.
     * Follow it with {@link #backwardFirstTokens}.
     */
    public float[] forwardFirstTokens(Kernels k, int[] ids, int[] typeIds, TokenBatch batch, boolean keepForBackward) {
        return run(k, ids, typeIds, batch, keepForBackward, true);
    }

    private float[] run(Kernels k, int[] ids, int[] typeIds, TokenBatch batch, boolean keepForBackward, boolean firstTokens) {
        int b = batch.batch();
        int t = batch.seqLen();
        int h = config.hiddenSize();
        int rows = batch.rows();
        if (t > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("sequence length " + t + " exceeds max_position_embeddings " + config.maxPositionEmbeddings());
        }
        BertActivations a = activations(b, t, keepForBackward || batch.training());
        a.typeIds = typeIds;
        // Embeddings: word + position + token type.
        Embedding.forward(k, a.embSum, ids, wordEmbeddings.data(), rows, h);
        float[] pos = positionEmbeddings.data();
        float[] typ = tokenTypeEmbeddings.data();
        int typeVocab = config.typeVocabSize();
        for (int r = 0; r < rows; r++) {
            int tt = typeIds == null ? 0 : typeIds[r];
            if (tt < 0 || tt >= typeVocab) {
                throw new IllegalArgumentException("token type id " + tt + " out of range [0, " + typeVocab + ")");
            }
        }
        // In Hugging Face's order: (word + token type) + position, one row at a time through the kernels.
        for (int r = 0; r < rows; r++) {
            k.accumulate(a.embSum, r * h, typ, (typeIds == null ? 0 : typeIds[r]) * h, h);
            k.accumulate(a.embSum, r * h, pos, (r % t) * h, h);
        }
        LayerNorm.forward(k, a.embLn, a.embMean, a.embRstd, a.embSum, embLnWeight.data(), embLnBias.data(), rows, h, (float) config.layerNormEps());
        float[] x = dropout(k, a.embLn, a.hidden[0], batch, rows * h);
        int last = layers.size() - 1;
        lastFirstTokensOnly = firstTokens && layers.get(last).firstTokensExact();
        for (int l = 0; l <= last; l++) {
            if (l == last && lastFirstTokensOnly) {
                layers.get(l).forwardFirstTokens(k, x, a.layer[l], a.hidden[l + 1], batch, maskBias(a, batch), l);
            } else {
                layers.get(l).forward(k, x, a.layer[l], a.hidden[l + 1], batch, maskBias(a, batch), l);
            }
            x = a.hidden[l + 1];
        }
        if (firstTokens && !lastFirstTokensOnly) {
            // Gather the first tokens' rows in place: row e * t moves to row e, and e <= e * t, so in increasing
            // order no row is overwritten before it is read.
            for (int e = 0; e < b; e++) {
                System.arraycopy(x, e * t * h, x, e * h, h);
            }
        }
        return x;
    }

    private float[] maskBias(BertActivations a, TokenBatch batch) {
        int[] am = batch.attentionMask();
        for (int i = 0; i < batch.rows(); i++) {
            a.maskBias[i] = am[i] != 0 ? 0f : BertLayer.MASKED;
        }
        return a.maskBias;
    }

    /** Dropout stream of the embedding output; layers use 16 + 4 * layer + site, the head 1000. */
    private static long embStream(TokenBatch b) {
        return b.step() * 1024;
    }

    private float[] dropout(Kernels k, float[] in, float[] out, TokenBatch batch, int n) {
        float p = (float) config.hiddenDropoutProb();
        if (!batch.training() || p == 0f) {
            System.arraycopy(in, 0, out, 0, n);
            return out;
        }
        BertActivations a = acts;
        if (a.embKeep.length >= Dropout.maskWords(n)) {
            // Record the mask for backward (see Dropout: cheaper than hashing every element again).
            Dropout.forward(k, out, in, n, p, batch.dropoutSeed(), embStream(batch), batch.dropoutOffset(n), a.embKeep);
        } else {
            Dropout.forward(k, out, in, n, p, batch.dropoutSeed(), embStream(batch), batch.dropoutOffset(n), null);
        }
        return out;
    }

    /**
     * Backpropagates dHidden [rows, hidden] (the gradient of the last hidden state) through the last forward,
     * accumulating the gradients of every trainable parameter. Frozen parameters get no gradient work; input
     * gradients below the lowest trainable parameter are not computed.
     */
    public void backward(Kernels k, float[] dHidden, int[] ids, TokenBatch batch) {
        BertActivations a = backwardActivations();
        int rows = batch.rows();
        int h = config.hiddenSize();
        System.arraycopy(dHidden, 0, a.dHiddenA, 0, rows * h);
        backwardFrom(k, layers.size() - 1, a.dHiddenA, a.dHiddenB, ids, batch);
    }

    /**
     * Backward of {@link #forwardFirstTokens}: dFirst [batch, hidden] is the gradient of the first tokens'
     * last hidden states (only read). Accumulates the gradients of every trainable parameter, as
     * {@link #backward} does.
     */
    public void backwardFirstTokens(Kernels k, float[] dFirst, int[] ids, TokenBatch batch) {
        BertActivations a = backwardActivations();
        int b = batch.batch();
        int t = batch.seqLen();
        int rows = batch.rows();
        int h = config.hiddenSize();
        int last = layers.size() - 1;
        if (!lastFirstTokensOnly) {
            Arrays.fill(a.dHiddenA, 0, rows * h, 0f);
            for (int e = 0; e < b; e++) {
                System.arraycopy(dFirst, e * h, a.dHiddenA, e * t * h, h);
            }
            backwardFrom(k, last, a.dHiddenA, a.dHiddenB, ids, batch);
            return;
        }
        boolean needInputGrad = last > 0 || embeddingsTrainable();
        float[] dInput = needInputGrad ? a.dHiddenB : null;
        if (needInputGrad) {
            k.parallelFor(rows * h, (from, to) -> Arrays.fill(dInput, from, to, 0f));
        }
        layers.get(last).backwardFirstTokens(k, a.hidden[last], a.layer[last], dFirst, dInput, batch, last);
        if (needInputGrad) {
            backwardFrom(k, last - 1, a.dHiddenB, a.dHiddenA, ids, batch);
        }
    }

    /** Whether the last forward ran the last layer on the first tokens alone (see {@link #forwardFirstTokens}). */
    public boolean lastForwardSkippedRows() {
        return lastFirstTokensOnly;
    }

    private BertActivations backwardActivations() {
        BertActivations a = acts;
        if (a == null || !a.forBackward) {
            throw new IllegalStateException("backward without a forward pass that kept its activations");
        }
        return a;
    }

    private boolean embeddingsTrainable() {
        return embeddingParams().stream().anyMatch(Param::trainable);
    }

    /**
     * Backpropagates dx (the gradient of layer {@code from}'s output, in one of the two gradient buffers; the
     * other is dPrev) down through layer 0 and, when they are trainable, the embeddings. from == -1 starts at
     * the embeddings.
     */
    private void backwardFrom(Kernels k, int fromLayer, float[] dx, float[] dPrev, int[] ids, TokenBatch batch) {
        BertActivations a = acts;
        int rows = batch.rows();
        int h = config.hiddenSize();
        boolean embTrainable = embeddingsTrainable();
        for (int l = fromLayer; l >= 0; l--) {
            boolean needInputGrad = l > 0 || embTrainable;
            float[] zeroed = dPrev;
            k.parallelFor(rows * h, (from, to) -> Arrays.fill(zeroed, from, to, 0f));
            float[] input = a.hidden[l];
            layers.get(l).backward(k, input, a.layer[l], dx, needInputGrad ? dPrev : null, batch, l);
            float[] tmp = dx;
            dx = dPrev;
            dPrev = tmp;
            if (!needInputGrad) {
                return;
            }
        }
        // dx is now the gradient of the embedding dropout output.
        float p = (float) config.hiddenDropoutProb();
        if (batch.training() && p > 0f) {
            float[] dLn = dx == a.dHiddenA ? a.dHiddenB : a.dHiddenA;
            Dropout.backward(k, dLn, dx, rows * h, p, a.embKeep, false);
            dx = dLn;
        }
        Arrays.fill(a.embDx, 0, rows * h, 0f);
        LayerNorm.backward(k, a.embDx, embLnWeight.grad(), embLnBias.grad(), dx, a.embSum, embLnWeight.data(), a.embMean, a.embRstd, rows, h);
        if (wordEmbeddings.trainable()) {
            Embedding.backward(k, wordEmbeddings.grad(), a.embDx, ids, rows, h);
        }
        int t = batch.seqLen();
        if (positionEmbeddings.trainable()) {
            for (int r = 0; r < rows; r++) {
                k.accumulate(positionEmbeddings.grad(), (r % t) * h, a.embDx, r * h, h);
            }
        }
        if (tokenTypeEmbeddings.trainable()) {
            for (int r = 0; r < rows; r++) {
                k.accumulate(tokenTypeEmbeddings.grad(), (a.typeIds == null ? 0 : a.typeIds[r]) * h, a.embDx, r * h, h);
            }
        }
    }

    public long parameterCount() {
        return params().stream().mapToLong(p -> p.value().size()).sum();
    }

    static Tensor tensor(float[] data, int... shape) {
        return new Tensor(shape, data);
    }
}
