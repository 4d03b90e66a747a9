package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;

/**
 * Fully connected layer y[rows, out] = x[rows, in] . W^T + b with W stored [out, in] (the Hugging Face /
 * PyTorch nn.Linear layout, so checkpoint tensors are used as they are, without a transpose).
 *
 * <p>The products are {@link Kernels#sgemm}; the bias goes through {@link Kernels#addBiasRows} and its gradient
 * through {@link Kernels#columnSums}. Saved for backward: nothing beyond the caller's own x (needed only for dW) and W (needed only for dx).
 */
public final class Linear {

    private Linear() {
    }

    /**
     * out = x . W^T + b (out overwritten).
     *
     * @param out  [rows, outDim]
     * @param x    [rows, inDim]
     * @param w    [outDim, inDim]
     * @param bias [outDim] or null for no bias
     */
    public static void forward(Kernels k, float[] out, float[] x, float[] w, float[] bias,
                               int rows, int inDim, int outDim) {
        forward(k, out, x, w, bias, rows, inDim, outDim, false);
    }

    /**
     * As {@link #forward(Kernels, float[], float[], float[], float[], int, int, int)}, but with accumulate
     * the result is added to out (out += x . W^T + b): what a LoRA branch or a residual-into-output needs
     * without a temporary.
     */
    public static void forward(Kernels k, float[] out, float[] x, float[] w, float[] bias,
                               int rows, int inDim, int outDim, boolean accumulate) {
        Checks.nonNegative(rows, "rows");
        Checks.positive(inDim, "inDim");
        Checks.positive(outDim, "outDim");
        Checks.len(out, (long) rows * outDim, "out");
        Checks.len(x, (long) rows * inDim, "x");
        Checks.len(w, (long) outDim * inDim, "w");
        Checks.lenOrNull(bias, outDim, "bias");
        if (rows == 0) {
            return;
        }
        float beta = accumulate ? 1f : 0f;
        if (bias != null) {
            // Broadcast the bias into out first and let the gemm accumulate onto it: one pass over out
            // instead of a gemm pass plus a separate bias pass.
            k.addBiasRows(out, bias, rows, outDim, accumulate);
            beta = 1f;
        }
        k.sgemm(false, true, rows, outDim, inDim, 1f, x, 0, inDim, w, 0, inDim, beta, out, 0, outDim);
    }

    /**
     * Accumulates gradients: dx += dout . W, dW += dout^T . x, db += column sums of dout. Each gradient
     * may be null, and its computation is then skipped entirely (frozen weights cost nothing; x may then be
     * null too when dW is null, and w when dx is null).
     *
     * @param dx   [rows, inDim] or null
     * @param dw   [outDim, inDim] or null
     * @param db   [outDim] or null
     * @param dout [rows, outDim]
     * @param x    [rows, inDim] the forward input (read only when dw != null)
     * @param w    [outDim, inDim] (read only when dx != null)
     */
    public static void backward(Kernels k, float[] dx, float[] dw, float[] db, float[] dout,
                                float[] x, float[] w, int rows, int inDim, int outDim) {
        Checks.nonNegative(rows, "rows");
        Checks.positive(inDim, "inDim");
        Checks.positive(outDim, "outDim");
        if (rows == 0) {
            return;
        }
        Checks.len(dout, (long) rows * outDim, "dout");
        if (dx != null) {
            Checks.len(dx, (long) rows * inDim, "dx");
            Checks.len(w, (long) outDim * inDim, "w");
            // [rows, out] . [out, in] -> [rows, in]: NN form, W used as stored.
            k.sgemm(false, false, rows, inDim, outDim, 1f, dout, 0, outDim, w, 0, inDim, 1f, dx, 0, inDim);
        }
        if (dw != null) {
            Checks.len(dw, (long) outDim * inDim, "dw");
            Checks.len(x, (long) rows * inDim, "x");
            // [out, rows] . [rows, in] -> [out, in]: TN form, reduction over rows happens inside the gemm,
            // which the Kernels contract keeps deterministic.
            k.sgemm(true, false, outDim, inDim, rows, 1f, dout, 0, outDim, x, 0, inDim, 1f, dw, 0, inDim);
        }
        if (db != null) {
            Checks.len(db, outDim, "db");
            columnSums(k, db, dout, rows, outDim);
        }
    }

    /** db[c] += sum over rows of dout[r, c] ({@link Kernels#columnSums}). */
    static void columnSums(Kernels k, float[] db, float[] dout, int rows, int cols) {
        k.columnSums(db, dout, rows, cols);
    }
}
