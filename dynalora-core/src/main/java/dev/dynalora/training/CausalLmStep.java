package dev.dynalora.training;

import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.models.CausalLm;
import dev.dynalora.tensor.Param;

import java.util.List;

/**
 * One training step of a causal LM on a full (unpadded) batch: forward, next-token loss, backward, clipping and
 * the AdamW update (see {@link OptimizerStep}). What bench step times against the PyTorch reference's
 * {@code --mode step}; training runs go through {@link CausalLmObjective} and the {@link Trainer}.
 */
public final class CausalLmStep {
    private final CausalLm model;
    private final List<Param> params;
    private final AdamW optimizer;
    private final double maxGradNorm;
    private StepHooks hooks = StepHooks.NONE;

    public CausalLmStep(CausalLm model, List<Param> params, AdamW optimizer, double maxGradNorm) {
        this.model = model;
        this.params = List.copyOf(params);
        this.optimizer = optimizer;
        this.maxGradNorm = maxGradNorm;
    }

    public void setHooks(StepHooks hooks) {
        this.hooks = hooks == null ? StepHooks.NONE : hooks;
    }

    /** ids and targets are [batch * seqLen]; every position is attended and scored unless its target is IGNORE. */
    public ClassifierStep.Result step(Kernels k, int[] ids, int[] targets, int batch, int seqLen, float lr, long seed,
                                      long step, boolean dropout) {
        int[] mask = new int[batch * seqLen];
        java.util.Arrays.fill(mask, 1);
        TokenBatch tb = new TokenBatch(batch, seqLen, mask, dropout, seed, step);
        return OptimizerStep.run(k, params, optimizer, maxGradNorm, hooks, lr, step, () -> {
            for (Param p : params) {
                p.zeroGrad();
            }
            return model.lossAndGradientsOnTargets(k, ids, targets, tb);
        });
    }
}
