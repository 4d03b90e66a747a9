package dev.dynalora.training;

import dev.dynalora.kernels.Kernels;
import dev.dynalora.tensor.Param;

import java.util.List;

/**
 * The part of a training step that does not depend on the task or the model: the loss and gradients (computed
 * by the caller, gradients zeroed first), the adaptive method's regulariser, gradient clipping and, when the
 * loss and gradient are finite, the AdamW update between the method's hooks. A non-finite step changes no
 * weight, so the run can stop as diverged with its last state intact.
 */
final class OptimizerStep {
    private OptimizerStep() {
    }

    /** Forward and backward of one batch, returning the loss (gradients already zeroed). */
    @FunctionalInterface
    interface Backward {
        float lossAndGradients();
    }

    static ClassifierStep.Result run(Kernels k, List<Param> params, AdamW optimizer, double maxGradNorm, StepHooks hooks, float lr,
                                     long step, Backward backward) {
        float loss = backward.lossAndGradients();
        loss += (float) hooks.regularize(step);
        double norm = GradientClipping.clip(k, params, maxGradNorm);
        if (Float.isFinite(loss) && Double.isFinite(norm)) {
            hooks.beforeOptimizer(step);
            optimizer.step(k, lr);
            hooks.afterOptimizer(step);
        }
        return new ClassifierStep.Result(loss, norm);
    }
}
