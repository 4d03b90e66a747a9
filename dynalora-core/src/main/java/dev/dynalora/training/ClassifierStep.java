package dev.dynalora.training;

import dev.dynalora.data.PaddedBatch;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.models.bert.SequenceClassifier;
import dev.dynalora.tensor.Param;

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
    private final ClassifierLoss loss;

    /** What one step measured. gradNorm is before clipping. */
    public record Result(float loss, double gradNorm) {
    }

    public ClassifierStep(SequenceClassifier model, List<Param> params, AdamW optimizer, double maxGradNorm) {
        this.model = model;
        this.params = List.copyOf(params);
        this.optimizer = optimizer;
        this.maxGradNorm = maxGradNorm;
        this.loss = new ClassifierLoss(model);
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
        return loss.lossAndGradients(k, b, labels, targets, training, seed, step);
    }

    /** A full training step with learning rate lr. */
    public Result step(Kernels k, PaddedBatch b, int[] labels, float[] targets, float lr, long seed, long step) {
        return step(k, b, labels, targets, lr, seed, step, true);
    }

    /** A full training step; dropout off gives the deterministic step the speed reference times. */
    public Result step(Kernels k, PaddedBatch b, int[] labels, float[] targets, float lr, long seed, long step, boolean dropout) {
        return OptimizerStep.run(k, params, optimizer, maxGradNorm, hooks, lr, step,
                () -> lossAndGradients(k, b, labels, targets, dropout, seed, step));
    }
}
