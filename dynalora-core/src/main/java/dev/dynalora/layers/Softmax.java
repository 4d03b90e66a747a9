package dev.dynalora.layers;

import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.kernels.Kernels;

/**
 * Numerically stable softmax over the last dimension, plus the single-row forms that sampling and the
 * attention tests use. Checks the shapes and runs {@link Kernels#softmaxForward}, {@link Kernels#softmaxBackward},
 * {@link Kernels#softmaxRowsLocal}, {@link Kernels#softmaxBackwardRowsLocal} and {@link Kernels#logSumExpLocal}.
 *
 * <p>A row whose maximum is -infinity (every entry masked with -inf) has no defined softmax; it is
 * written as all zeros rather than NaN, so a fully padded example cannot poison the batch. Rows masked
 * with a large finite negative value (-1e30, -Float.MAX_VALUE) instead come out uniform, which is what
 * Hugging Face's finfo.min masking produces too.
 *
 * <p>The single-row methods without a {@link Kernels} argument run on {@link CpuKernels#serial()}: they serve
 * callers with one row of host-side work and no backend at hand (a sampler's next-token distribution).
 */
public final class Softmax {

    private Softmax() {
    }

    /** out[r, :] = softmax(x[r, :]) for each of rows rows of cols entries. out may be the same array as x. */
    public static void forward(Kernels k, float[] out, float[] x, int rows, int cols) {
        Checks.nonNegative(rows, "rows");
        Checks.positive(cols, "cols");
        Checks.len(out, (long) rows * cols, "out");
        Checks.len(x, (long) rows * cols, "x");
        k.softmaxForward(out, x, rows, cols);
    }

    /**
     * dx += y * (dout - sum(dout * y)) per row, where y is the saved forward output. No-op when dx is
     * null.
     */
    public static void backward(Kernels k, float[] dx, float[] y, float[] dout, int rows, int cols) {
        if (dx == null) {
            return;
        }
        Checks.nonNegative(rows, "rows");
        Checks.positive(cols, "cols");
        Checks.len(dx, (long) rows * cols, "dx");
        Checks.len(y, (long) rows * cols, "y");
        Checks.len(dout, (long) rows * cols, "dout");
        k.softmaxBackward(dx, y, dout, rows, cols);
    }

    /**
     * Softmax of a[off .. off+n) in place. Exponentials are taken relative to the row maximum so nothing
     * overflows. An all -inf row becomes zeros (see class comment).
     */
    public static void rowInPlace(float[] a, int off, int n) {
        rowInPlace(a, off, n, null, 0);
    }

    /** Softmax of a[off .. off+n) + bias[bOff .. bOff+n) in place (bias null for none). */
    public static void rowInPlace(float[] a, int off, int n, float[] bias, int bOff) {
        checkRow(a, off, n, "a");
        if (bias != null) {
            checkRow(bias, bOff, n, "bias");
        }
        CpuKernels.serial().softmaxRowsLocal(a, off, 1, n, n, bias, bOff);
    }

    /**
     * log(sum(exp(x[off .. off+n)))), relative to the row maximum so nothing overflows: the normaliser of a
     * log-softmax (log p_i = x_i - logSumExp). scratch (at least n floats) is clobbered. -infinity for an all
     * -inf row.
     */
    public static double logSumExp(float[] x, int off, int n, float[] scratch) {
        Checks.positive(n, "n");
        Checks.len(scratch, n, "scratch");
        checkRow(x, off, n, "x");
        return CpuKernels.serial().logSumExpLocal(x, off, n, scratch);
    }

    /**
     * Turns g (the gradient with respect to the softmax output y of one row) into the gradient with
     * respect to the softmax input, in place: g := y * (g - sum(g * y)).
     */
    public static void rowBackwardInPlace(float[] y, int yOff, float[] g, int gOff, int n) {
        checkRow(y, yOff, n, "y");
        checkRow(g, gOff, n, "g");
        CpuKernels.serial().softmaxBackwardRowsLocal(y, yOff, g, gOff, 1, n);
    }

    private static void checkRow(float[] a, int off, int n, String name) {
        Checks.nonNegative(off, name + " offset");
        Checks.nonNegative(n, "n");
        Checks.len(a, (long) off + n, name);
    }
}
