package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;

/**
 * Root-mean-square normalisation over the last dimension (Llama's RMSNorm):
 * out = x * rstd * w per row, with rstd = 1 / sqrt(mean(x^2) + eps). No centring and no bias, unlike
 * {@link LayerNorm}. Checks the shapes and runs {@link Kernels#rmsNormForward} and {@link Kernels#rmsNormBackward}.
 *
 * <p>Saved for backward: rstd[rows] (written by forward), plus the caller's x and w.
 *
 * <p>The product is formed as (x * rstd) * w, two float roundings in that order, as Hugging Face's
 * LlamaRMSNorm and the PyTorch reference do, so a forward in float32 agrees with theirs to the last bits
 * of the sum of squares.
 */
public final class RmsNorm {

    private RmsNorm() {
    }

    /**
     * @param out    [rows, dim] (may be the same array as x)
     * @param rstd   [rows] saved for backward, or null when no backward will follow (inference)
     * @param x      [rows, dim]
     * @param weight [dim] gain, or null for 1
     */
    public static void forward(Kernels k, float[] out, float[] rstd, float[] x, float[] weight,
                               int rows, int dim, float eps) {
        Checks.nonNegative(rows, "rows");
        Checks.positive(dim, "dim");
        Checks.len(out, (long) rows * dim, "out");
        Checks.len(x, (long) rows * dim, "x");
        Checks.lenOrNull(rstd, rows, "rstd");
        Checks.lenOrNull(weight, dim, "weight");
        k.rmsNormForward(out, rstd, x, weight, rows, dim, eps);
    }

    /**
     * Backward. With g = dout * w and s = sum(g * x) over the row:
     * dx = rstd * (g - x * rstd^2 * s / dim), dw += sum over rows of dout * x * rstd.
     * dx (accumulated, or written with overwriteDx) and dweight (accumulated) may each be null, and are
     * then skipped: a frozen gain costs no column reduction, and the lowest layer needs no dx.
     *
     * @param rstd [rows] as saved by forward
     */
    public static void backward(Kernels k, float[] dx, float[] dweight, float[] dout, float[] x, float[] weight,
                                float[] rstd, int rows, int dim, boolean overwriteDx) {
        Checks.nonNegative(rows, "rows");
        Checks.positive(dim, "dim");
        Checks.lenOrNull(dx, (long) rows * dim, "dx");
        Checks.lenOrNull(dweight, dim, "dweight");
        Checks.lenOrNull(weight, dim, "weight");
        if (rows == 0 || (dx == null && dweight == null)) {
            return;
        }
        Checks.len(dout, (long) rows * dim, "dout");
        Checks.len(x, (long) rows * dim, "x");
        Checks.len(rstd, rows, "rstd");
        k.rmsNormBackward(dx, dweight, dout, x, weight, rstd, rows, dim, overwriteDx);
    }
}
