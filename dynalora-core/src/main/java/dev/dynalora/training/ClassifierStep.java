package dev.dynalora.training;

import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.data.PaddedBatch;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.layers.CrossEntropy;
import dev.dynalora.layers.MeanSquaredError;
import dev.dynalora.models.SequenceClassifier;
import dev.dynalora.tensor.Param;

import java.util.Arrays;
import java.util.List;

/**
 * One training step of a sequence classifier or regressor: forward, loss (cross-entropy, or mean squared
 * error when the model has one output), backward, gradient clipping, AdamW update.
 */
public final class ClassifierStep {
    private final SequenceClassifier model;
    private final List<Param> params;
    private final AdamW optimizer;
    private final double maxGradNorm;
    private StepHooks hooks = StepHooks.NONE;
    private float[] probs = new float[0];
    private float[] dLogits = new float[0];
    private float[] preds = new float[0];

    /** What one step measured. gradNorm is before clipping. */
    public record Result(float loss, double gradNorm) {
    }

    public ClassifierStep(SequenceClassifier model, List<Param> params, AdamW optimizer, double maxGradNorm) {
        this.model = model;
        this.params = List.copyOf(params);
        this.optimizer = optimizer;
        this.maxGradNorm = maxGradNorm;
    }

    /** Installs the adaptive method's per-step hooks (AdaLoRA, Dynamic LoRA). */
    public void setHooks(StepHooks hooks) {
        this.hooks = hooks == null ? StepHooks.NONE : hooks;
    }

    public StepHooks hooks() {
        return hooks;
    }

    public List<Param> params() {
        return params;
    }

    public AdamW optimizer() {
        return optimizer;
    }

    /**
     * Forward and backward only (gradients left in the parameters, zeroed first): what gradient checks and
     * importance scoring need. labels are used for classification, targets for regression.
     */
    public float lossAndGradients(Kernels k, PaddedBatch b, int[] labels, float[] targets, boolean training, long seed, long step) {
        for (Param p : params) {
            p.zeroGrad();
        }
        TokenBatch tb = new TokenBatch(b.batch(), b.seqLen(), b.attentionMask(), training, seed, step);
        float[] logits = model.forward(k, b.ids(), b.typeIds(), tb, true);
        int c = model.numLabels();
        int n = b.batch();
        if (dLogits.length < n * c) {
            probs = new float[n * c];
            dLogits = new float[n * c];
            preds = new float[n];
        }
        Arrays.fill(dLogits, 0, n * c, 0f);
        float loss;
        if (c == 1) {
            System.arraycopy(logits, 0, preds, 0, n);
            loss = MeanSquaredError.forward(preds, targets, n);
            MeanSquaredError.backward(dLogits, preds, targets, n, 1f);
        } else {
            loss = CrossEntropy.forward(k, probs, null, logits, labels, n, c);
            CrossEntropy.backward(k, dLogits, probs, labels, n, c, 1f);
        }
        model.backward(k, dLogits, tb);
        return loss;
    }

    /** A full training step with learning rate lr. */
    public Result step(Kernels k, PaddedBatch b, int[] labels, float[] targets, float lr, long seed, long step) {
        return step(k, b, labels, targets, lr, seed, step, true);
    }

    /** A full training step; dropout off gives the deterministic step the speed reference times. */
    public Result step(Kernels k, PaddedBatch b, int[] labels, float[] targets, float lr, long seed, long step, boolean dropout) {
        float loss = lossAndGradients(k, b, labels, targets, dropout, seed, step);
        loss += (float) hooks.regularize(step);
        double norm = GradientClipping.clip(params, maxGradNorm);
        if (Float.isFinite(loss) && Double.isFinite(norm)) {
            hooks.beforeOptimizer(step);
            optimizer.step(lr);
            hooks.afterOptimizer(step);
        }
        return new Result(loss, norm);
    }
}
