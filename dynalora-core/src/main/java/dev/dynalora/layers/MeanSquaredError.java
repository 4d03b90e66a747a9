package dev.dynalora.layers;

/**
 * Mean squared error for regression heads: loss = mean over n of (pred - target)^2, with pred and target
 * flat [n] (a [batch, 1] regression output has n = batch, as torch.nn.MSELoss on the squeezed logits).
 * Sizes are tiny (one value per example), so this runs on the calling thread; the sum is in double.
 *
 * <p>Saved for backward: nothing beyond pred and target.
 */
public final class MeanSquaredError {

    private MeanSquaredError() {
    }

    /** @return the mean squared error; 0 when n == 0 */
    public static float forward(float[] pred, float[] target, int n) {
        Checks.nonNegative(n, "n");
        Checks.len(pred, n, "pred");
        Checks.len(target, n, "target");
        if (n == 0) {
            return 0f;
        }
        double s = 0;
        for (int i = 0; i < n; i++) {
            double d = (double) pred[i] - target[i];
            s += d * d;
        }
        return (float) (s / n);
    }

    /** dpred += dloss * 2 (pred - target) / n. No-op when dpred is null or n == 0. */
    public static void backward(float[] dpred, float[] pred, float[] target, int n, float dloss) {
        if (dpred == null || n == 0) {
            return;
        }
        Checks.nonNegative(n, "n");
        Checks.len(dpred, n, "dpred");
        Checks.len(pred, n, "pred");
        Checks.len(target, n, "target");
        double f = 2.0 * dloss / n;
        for (int i = 0; i < n; i++) {
            dpred[i] += (float) (f * ((double) pred[i] - target[i]));
        }
    }
}
