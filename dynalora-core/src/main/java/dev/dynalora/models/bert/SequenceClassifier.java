package dev.dynalora.models.bert;

import dev.dynalora.models.AdaptableModel;
import dev.dynalora.models.HfFolderSpec;
import dev.dynalora.models.HuggingFaceExport;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.PeftLayout;
import dev.dynalora.models.RandomWeights;
import dev.dynalora.models.WeightSource;

import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.layers.Dropout;
import dev.dynalora.tensor.Param;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * Hugging Face's BertForSequenceClassification: pooled = tanh(pooler(h[CLS])), dropout, then a linear
 * classifier to numLabels logits (numLabels = 1 is regression). The pooler comes from the checkpoint when
 * it has one; otherwise it is initialised as Hugging Face does (normal(0, initializer_range), zero bias).
 */
public final class SequenceClassifier implements AdaptableModel {
    private final BertEncoder encoder;
    private final LinearModule pooler;
    private final LinearModule classifier;
    private final int numLabels;
    private final boolean pretrainedPooler;
    private final float dropP;

    private float[] cls = new float[0];
    private float[] pooledPre = new float[0];
    private float[] pooled = new float[0];
    private float[] dropped = new float[0];
    private float[] logits = new float[0];
    private float[] dPooled = new float[0];
    private float[] dCls = new float[0];
    private int lastBatch;
    private int[] lastIds;

    public SequenceClassifier(BertEncoder encoder, WeightSource checkpoint, int numLabels, long seed) {
        ModelConfig c = encoder.config();
        int h = c.hiddenSize();
        this.encoder = encoder;
        this.numLabels = numLabels;
        this.dropP = (float) c.hiddenDropoutProb();
        RandomWeights fresh = new RandomWeights(seed, c.raw().path("initializer_range").asDouble(0.02));
        this.pretrainedPooler = checkpoint.has("pooler.dense.weight");
        this.pooler = (pretrainedPooler ? checkpoint : fresh).linear("pooler.dense", h, h);
        this.classifier = (checkpoint.has("classifier.weight") ? checkpoint : fresh).linear("classifier", h, numLabels);
    }

    public BertEncoder encoder() {
        return encoder;
    }

    public int numLabels() {
        return numLabels;
    }

    public boolean hasPretrainedPooler() {
        return pretrainedPooler;
    }

    public LinearModule pooler() {
        return pooler;
    }

    public LinearModule classifier() {
        return classifier;
    }

    /** Head parameters (pooler and classifier): trained by every method, as PEFT's modules_to_save. */
    /** The encoder's projections (the head's pooler and classifier are not adapter targets). */
    @Override
    public List<LinearModule> linearModules() {
        return encoder.linearModules();
    }

    /** What PEFT users adapt in BERT: the attention's query and value projections. */
    public static final String DEFAULT_TARGETS = "query,value";

    @Override
    public String defaultTargets() {
        return DEFAULT_TARGETS;
    }

    @Override
    public List<Param> headParams() {
        return List.of(pooler.weight(), pooler.bias(), classifier.weight(), classifier.bias());
    }

    @Override
    public List<Param> allParams() {
        List<Param> p = new ArrayList<>(encoder.params());
        p.addAll(headParams());
        return p;
    }

    /**
     * BertForSequenceClassification wrapped with task_type SEQ_CLS: the encoder is its attribute "bert" (our names
     * leave it out), the classifier sits beside it. PEFT itself puts "classifier" and "score" into modules_to_save
     * for SEQ_CLS; we add "pooler", which trains as part of our head (docs/peft-format.md).
     */
    @Override
    public PeftLayout peftLayout() {
        return new PeftLayout("SEQ_CLS", "bert.", Set.of("classifier"), List.of(pooler, classifier),
                List.of("pooler", "classifier", "score"), List.of(pooler, classifier));
    }

    /** A BertForSequenceClassification folder with labels LABEL_0, LABEL_1, ... (see {@link HuggingFaceExport}). */
    @Override
    public HfFolderSpec hfFolder() {
        return BertExportConfig.folder(encoder.config(), null, numLabels);
    }

    private void ensure(int b) {
        int h = encoder.config().hiddenSize();
        if (cls.length < b * h) {
            cls = new float[b * h];
            pooledPre = new float[b * h];
            pooled = new float[b * h];
            dropped = new float[b * h];
            logits = new float[b * numLabels];
            dPooled = new float[b * h];
            dCls = new float[b * h];
        }
    }

    /** Logits [batch, numLabels] (a buffer owned by this object, valid until the next forward). */
    public float[] forward(Kernels k, int[] ids, int[] typeIds, TokenBatch batch, boolean keepForBackward) {
        int b = batch.batch();
        int h = encoder.config().hiddenSize();
        float[] first = encoder.forwardFirstTokens(k, ids, typeIds, batch, keepForBackward);
        ensure(b);
        System.arraycopy(first, 0, cls, 0, b * h);
        TokenBatch headBatch = batch.reshaped(b, 1, ones(b));
        pooler.forward(k, cls, pooledPre, headBatch);
        k.tanhForward(pooled, pooledPre, b * h);
        float[] in = pooled;
        if (batch.training() && dropP > 0f) {
            Dropout.forward(k, dropped, pooled, b * h, dropP, batch.dropoutSeed(), batch.step() * 1024 + 1000,
                    batch.dropoutOffset((long) b * h), null);
            in = dropped;
        }
        classifier.forward(k, in, logits, headBatch);
        lastBatch = b;
        lastIds = ids;
        return logits;
    }

    private static int[] ones(int n) {
        int[] m = new int[n];
        Arrays.fill(m, 1);
        return m;
    }

    /** Backpropagates dLogits [batch, numLabels] through head and encoder. */
    public void backward(Kernels k, float[] dLogits, TokenBatch batch) {
        int b = batch.batch();
        int h = encoder.config().hiddenSize();
        if (b != lastBatch) {
            throw new IllegalStateException("backward for a batch of " + b + " after a forward of " + lastBatch);
        }
        TokenBatch headBatch = batch.reshaped(b, 1, ones(b));
        float[] in = batch.training() && dropP > 0f ? dropped : pooled;
        Arrays.fill(dPooled, 0, b * h, 0f);
        classifier.backward(k, in, dLogits, dPooled, headBatch);
        if (batch.training() && dropP > 0f) {
            // Dropout.backward accumulates, so route through a zeroed buffer (dCls is free until the pooler).
            Arrays.fill(dCls, 0, b * h, 0f);
            Dropout.backward(k, dCls, dPooled, b * h, dropP, batch.dropoutSeed(), batch.step() * 1024 + 1000,
                    batch.dropoutOffset((long) b * h));
            System.arraycopy(dCls, 0, dPooled, 0, b * h);
        }
        k.tanhBackward(dPooled, pooled, dPooled, b * h);
        Arrays.fill(dCls, 0, b * h, 0f);
        pooler.backward(k, cls, dPooled, dCls, headBatch);
        if (encoderHasTrainable()) {
            encoder.backwardFirstTokens(k, dCls, lastIds, batch);
        }
    }

    private boolean encoderHasTrainable() {
        if (encoder.params().stream().anyMatch(Param::trainable)) {
            return true;
        }
        return encoder.linearModules().stream().anyMatch(m -> m.adapter() != null);
    }
}
