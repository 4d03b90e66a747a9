package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;

/**
 * Layer normalisation over the last dimension: out = (x - mean) * rstd * gamma + beta per row, with
 * rstd = 1 / sqrt(var + eps) and the biased (population) variance, as torch.nn.LayerNorm / BERT.
 *
 * <p>Saved for backward: mean[rows] and rstd[rows] (written by forward), plus the caller's x and gamma.
 * Row statistics are accumulated in double with a two-pass (mean, then centred variance) scheme, so rows
 * with a large common offset do not lose the variance to cancellation.
 */
public final class LayerNorm {

    private LayerNorm() {
    }

    /** Below this many elements the work runs on the calling thread. */
    private static final int MIN_PARALLEL = 1 << 14;

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
        Checks.nonNegative(rows, "rows");
        Checks.positive(dim, "dim");
        Checks.len(out, (long) rows * dim, "out");
        Checks.len(x, (long) rows * dim, "x");
        Checks.lenOrNull(mean, rows, "mean");
        Checks.lenOrNull(rstd, rows, "rstd");
        Checks.lenOrNull(gamma, dim, "gamma");
        Checks.lenOrNull(beta, dim, "beta");
        Kernels.RangeBody body = (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int base = r * dim;
                double s = 0;
                for (int c = 0; c < dim; c++) {
                    s += x[base + c];
                }
                double m = s / dim;
                double v = 0;
                for (int c = 0; c < dim; c++) {
                    double d = x[base + c] - m;
                    v += d * d;
                }
                double rs = 1.0 / Math.sqrt(v / dim + eps);
                float mf = (float) m;
                float rsf = (float) rs;
                for (int c = 0; c < dim; c++) {
                    float n = (float) ((x[base + c] - m) * rs);
                    float g = gamma == null ? 1f : gamma[c];
                    float b = beta == null ? 0f : beta[c];
                    out[base + c] = n * g + b;
                }
                if (mean != null) {
                    mean[r] = mf;
                }
                if (rstd != null) {
                    rstd[r] = rsf;
                }
            }
        };
        run(k, rows, dim, body);
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
        if (dx != null) {
            run(k, rows, dim, (r0, r1) -> {
                for (int r = r0; r < r1; r++) {
                    int base = r * dim;
                    float m = mean[r];
                    float rs = rstd[r];
                    double sumG = 0;
                    double sumGX = 0;
                    for (int c = 0; c < dim; c++) {
                        float g = dout[base + c] * (gamma == null ? 1f : gamma[c]);
                        float xh = (x[base + c] - m) * rs;
                        sumG += g;
                        sumGX += g * xh;
                    }
                    float meanG = (float) (sumG / dim);
                    float meanGX = (float) (sumGX / dim);
                    for (int c = 0; c < dim; c++) {
                        float g = dout[base + c] * (gamma == null ? 1f : gamma[c]);
                        float xh = (x[base + c] - m) * rs;
                        dx[base + c] += rs * (g - meanG - xh * meanGX);
                    }
                }
            });
        }
        if (dgamma != null || dbeta != null) {
            // A reduction over rows: parallel over column chunks, each thread walking all rows in order,
            // so no sum is ever split across threads (identical results for any thread count).
            Kernels.RangeBody body = (c0, c1) -> {
                for (int r = 0; r < rows; r++) {
                    int base = r * dim;
                    if (dgamma != null) {
                        float m = mean[r];
                        float rs = rstd[r];
                        for (int c = c0; c < c1; c++) {
                            dgamma[c] += dout[base + c] * ((x[base + c] - m) * rs);
                        }
                    }
                    if (dbeta != null) {
                        for (int c = c0; c < c1; c++) {
                            dbeta[c] += dout[base + c];
                        }
                    }
                }
            };
            if ((long) rows * dim < MIN_PARALLEL) {
                body.run(0, dim);
            } else {
                k.parallelFor(dim, body);
            }
        }
    }

    private static void run(Kernels k, int rows, int dim, Kernels.RangeBody body) {
        if (rows == 0) {
            return;
        }
        if ((long) rows * dim < MIN_PARALLEL) {
            body.run(0, rows);
        } else {
            k.parallelFor(rows, body);
        }
    }
}
