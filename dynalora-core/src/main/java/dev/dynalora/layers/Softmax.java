package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;

/**
 * Numerically stable softmax over the last dimension, plus the single-row primitives that
 * {@link Attention} runs inside its per-head tasks.
 *
 * <p>A row whose maximum is -infinity (every entry masked with -inf) has no defined softmax; it is
 * written as all zeros rather than NaN, so a fully padded example cannot poison the batch. Rows masked
 * with a large finite negative value (-1e30, -Float.MAX_VALUE) instead come out uniform, which is what
 * Hugging Face's finfo.min masking produces too.
 */
public final class Softmax {

    private Softmax() {
    }

    private static final int MIN_PARALLEL = 1 << 14;

    /** out[r, :] = softmax(x[r, :]) for each of rows rows of cols entries. out may be the same array as x. */
    public static void forward(Kernels k, float[] out, float[] x, int rows, int cols) {
        Checks.nonNegative(rows, "rows");
        Checks.positive(cols, "cols");
        Checks.len(out, (long) rows * cols, "out");
        Checks.len(x, (long) rows * cols, "x");
        run(k, rows, cols, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                if (out != x) {
                    System.arraycopy(x, r * cols, out, r * cols, cols);
                }
                rowInPlace(out, r * cols, cols);
            }
        });
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
        run(k, rows, cols, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int base = r * cols;
                float dot = rowDot(y, base, dout, base, cols);
                for (int c = 0; c < cols; c++) {
                    dx[base + c] += y[base + c] * (dout[base + c] - dot);
                }
            }
        });
    }

    /**
     * Softmax of a[off .. off+n) in place. Exponentials are taken relative to the row maximum so nothing
     * overflows; the normaliser is summed in double. An all -inf row becomes zeros (see class comment).
     */
    public static void rowInPlace(float[] a, int off, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, a[off + i]);
        }
        if (max == Float.NEGATIVE_INFINITY) {
            java.util.Arrays.fill(a, off, off + n, 0f);
            return;
        }
        double sum = 0;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp(a[off + i] - max);
            a[off + i] = e;
            sum += e;
        }
        // sum >= 1 because the maximum contributes exp(0) = 1, so the division is always safe.
        float inv = (float) (1.0 / sum);
        for (int i = 0; i < n; i++) {
            a[off + i] *= inv;
        }
    }

    /**
     * Turns g (the gradient with respect to the softmax output y of one row) into the gradient with
     * respect to the softmax input, in place: g := y * (g - sum(g * y)).
     */
    public static void rowBackwardInPlace(float[] y, int yOff, float[] g, int gOff, int n) {
        float dot = rowDot(y, yOff, g, gOff, n);
        for (int i = 0; i < n; i++) {
            g[gOff + i] = y[yOff + i] * (g[gOff + i] - dot);
        }
    }

    private static float rowDot(float[] a, int aOff, float[] b, int bOff, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += (double) a[aOff + i] * b[bOff + i];
        }
        return (float) s;
    }

    private static void run(Kernels k, int rows, int cols, Kernels.RangeBody body) {
        if (rows == 0) {
            return;
        }
        if ((long) rows * cols < MIN_PARALLEL) {
            body.run(0, rows);
        } else {
            k.parallelFor(rows, body);
        }
    }
}
