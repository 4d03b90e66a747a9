package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;

/**
 * Layer normalisation over the last dimension: out = (x - mean) * rstd * gamma + beta per row, with
 * rstd = 1 / sqrt(var + eps) and the biased (population) variance, as torch.nn.LayerNorm / BERT. Checks the
 * shapes and runs {@link Kernels#layerNormForward}, {@link Kernels#layerNormResidualForward} and
 * {@link Kernels#layerNormBackward}.
 *
 * <p>Saved for backward: mean[rows] and rstd[rows] (written by forward), plus the caller's x and gamma.
 */
public final class LayerNorm {

    private LayerNorm() {
    }

    /**
     * @param out   [rows, dim] (may be the same array as x)
     * @param mean  [rows] saved for backward, or null when no backward will follow (inference)
     * @param rstd  [rows] saved for backward, or null likewise
     * @param x     [rows, dim]
     * @param gamma [dim] scale, or null for 1
     * @param beta  [dim] shift, or null for 0
     */
    public static void forward(Kernels k, float[] out, float[] mean, float[] rstd, float[] x,
                               float[] gamma, float[] beta, int rows, int dim, float eps) {
        checkForward(out, mean, rstd, x, "x", gamma, beta, rows, dim);
        k.layerNormForward(out, mean, rstd, x, gamma, beta, rows, dim, eps);
    }

    /**
     * The residual connection and the layer norm after it, in one pass: res = a + b (kept: it is the
     * layer norm's input that backward needs), out = LayerNorm(res). Equivalent to
     * {@link Add#forward} followed by {@link #forward}, bit for bit, without a separate pass over res.
     *
     * @param res [rows, dim] written; may be the same array as a or b
     */
    public static void forwardResidual(Kernels k, float[] out, float[] res, float[] mean, float[] rstd,
                                       float[] a, float[] b, float[] gamma, float[] beta, int rows, int dim, float eps) {
        checkForward(out, mean, rstd, res, "res", gamma, beta, rows, dim);
        Checks.len(a, (long) rows * dim, "a");
        Checks.len(b, (long) rows * dim, "b");
        k.layerNormResidualForward(out, res, mean, rstd, a, b, gamma, beta, rows, dim, eps);
    }

    /** The argument checks of the forward passes; {@code x} is the normalised input, named {@code xName}. */
    private static void checkForward(float[] out, float[] mean, float[] rstd, float[] x, String xName,
                                     float[] gamma, float[] beta, int rows, int dim) {
        Checks.nonNegative(rows, "rows");
        Checks.positive(dim, "dim");
        Checks.len(out, (long) rows * dim, "out");
        Checks.len(x, (long) rows * dim, xName);
        Checks.lenOrNull(mean, rows, "mean");
        Checks.lenOrNull(rstd, rows, "rstd");
        Checks.lenOrNull(gamma, dim, "gamma");
        Checks.lenOrNull(beta, dim, "beta");
    }

    /**
     * Accumulates dx += d/dx, dgamma += sum_r dout * xhat, dbeta += sum_r dout, any of them nullable (and
     * skipped). With xhat = (x - mean) * rstd and g = dout * gamma:
     * dx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
     *
     * @param mean [rows] and rstd [rows] as saved by forward
     */
    public static void backward(Kernels k, float[] dx, float[] dgamma, float[] dbeta, float[] dout,
                                float[] x, float[] gamma, float[] mean, float[] rstd, int rows, int dim) {
        backward(k, dx, dgamma, dbeta, dout, x, gamma, mean, rstd, rows, dim, false);
    }

    /**
     * As {@link #backward(Kernels, float[], float[], float[], float[], float[], float[], float[], float[], int, int)},
     * but with overwriteDx the input gradient is written (dx = d/dx) instead of accumulated, so dx needs
     * no zero fill first. dgamma and dbeta still accumulate.
     */
    public static void backward(Kernels k, float[] dx, float[] dgamma, float[] dbeta, float[] dout,
                                float[] x, float[] gamma, float[] mean, float[] rstd, int rows, int dim,
                                boolean overwriteDx) {
        Checks.nonNegative(rows, "rows");
        Checks.positive(dim, "dim");
        Checks.lenOrNull(dx, (long) rows * dim, "dx");
        Checks.lenOrNull(dgamma, dim, "dgamma");
        Checks.lenOrNull(dbeta, dim, "dbeta");
        Checks.lenOrNull(gamma, dim, "gamma");
        if (rows == 0 || (dx == null && dgamma == null && dbeta == null)) {
            return;
        }
        Checks.len(dout, (long) rows * dim, "dout");
        if (dx != null || dgamma != null) {
            Checks.len(x, (long) rows * dim, "x");
            Checks.len(mean, rows, "mean");
            Checks.len(rstd, rows, "rstd");
        }
        k.layerNormBackward(dx, dgamma, dbeta, dout, x, gamma, mean, rstd, rows, dim, overwriteDx);
    }
}
