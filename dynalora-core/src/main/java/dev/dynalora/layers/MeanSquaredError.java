package dev.dynalora.layers;

import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.kernels.Kernels;

/**
 * Mean squared error for regression heads: loss = mean over n of (pred - target)^2, with pred and target
 * flat [n] (a [batch, 1] regression output has n = batch, as torch.nn.MSELoss on the squeezed logits).
 * Checks the sizes and runs {@link Kernels#meanSquaredError} and {@link Kernels#meanSquaredErrorBackward}
 * (sums in double). The overloads without a backend run on {@link CpuKernels#serial()}.
 *
 * <p>Saved for backward: nothing beyond pred and target.
 */
public final class MeanSquaredError {

    private MeanSquaredError() {
    }

    /** @return the mean squared error; 0 when n == 0 */
    public static float forward(Kernels k, float[] pred, float[] target, int n) {
        Checks.nonNegative(n, "n");
        Checks.len(pred, n, "pred");
        Checks.len(target, n, "target");
        return k.meanSquaredError(pred, target, n);
    }

    /** As {@link #forward(Kernels, float[], float[], int)} on {@link CpuKernels#serial()}. */
    public static float forward(float[] pred, float[] target, int n) {
        return forward(CpuKernels.serial(), pred, target, n);
    }

    /** dpred += dloss * 2 (pred - target) / n. No-op when dpred is null or n == 0. */
    public static void backward(Kernels k, float[] dpred, float[] pred, float[] target, int n, float dloss) {
        if (dpred == null || n == 0) {
            return;
        }
        Checks.nonNegative(n, "n");
        Checks.len(dpred, n, "dpred");
        Checks.len(pred, n, "pred");
        Checks.len(target, n, "target");
        k.meanSquaredErrorBackward(dpred, pred, target, n, dloss);
    }

    /** As {@link #backward(Kernels, float[], float[], float[], int, float)} on {@link CpuKernels#serial()}. */
    public static void backward(float[] dpred, float[] pred, float[] target, int n, float dloss) {
        backward(CpuKernels.serial(), dpred, pred, target, n, dloss);
    }
}
