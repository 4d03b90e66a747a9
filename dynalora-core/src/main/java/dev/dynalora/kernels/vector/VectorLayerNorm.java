package dev.dynalora.kernels.vector;

import dev.dynalora.kernels.Kernels;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Layer norm on the Vector API ({@link dev.dynalora.kernels.Kernels#layerNormForward},
 * {@link dev.dynalora.kernels.Kernels#layerNormResidualForward}, {@link dev.dynalora.kernels.Kernels#layerNormBackward}).
 *
 * <p>Float arithmetic on the Vector API (the model normalises 13 [4096 x 384] activations per forward,
 * which in scalar double took as long as a mid-sized matmul). Statistics use two passes around a pivot:
 * with c = x - x[row start] (exact when the values share a common offset, which is when it matters), the
 * mean is pivot + mean(c) and the variance mean((c - mean(c))^2), so a row with a large common offset
 * (say 1000 + N(0, 1)) keeps its variance and its centred values to float precision; summing the raw
 * values in float would lose about 1e-4 of the mean there. Sums run in vector lanes in a fixed order, so
 * results depend only on the row, never on the thread split.
 */
public final class VectorLayerNorm {

    private VectorLayerNorm() {
    }

    /** Below this many elements the work runs on the calling thread. */
    private static final int MIN_PARALLEL = 1 << 14;

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    /** See {@link dev.dynalora.kernels.Kernels#layerNormForward}. */
    public static void forward(Kernels k, float[] out, float[] mean, float[] rstd, float[] x,
                               float[] gamma, float[] beta, int rows, int dim, float eps) {
        run(k, rows, dim, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                normaliseRow(out, mean, rstd, x, gamma, beta, r, dim, eps);
            }
        });
    }

    /** See {@link dev.dynalora.kernels.Kernels#layerNormResidualForward}. */
    public static void forwardResidual(Kernels k, float[] out, float[] res, float[] mean, float[] rstd,
                                       float[] a, float[] b, float[] gamma, float[] beta, int rows, int dim, float eps) {
        run(k, rows, dim, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                addRow(res, a, b, r * dim, dim);
                normaliseRow(out, mean, rstd, res, gamma, beta, r, dim, eps);
            }
        });
    }

    /** One row: statistics, then the normalised (and affine) output. */
    private static void normaliseRow(float[] out, float[] mean, float[] rstd, float[] x, float[] gamma,
                                     float[] beta, int r, int dim, float eps) {
        int base = r * dim;
        float pivot = x[base];
        float d = pivotSum(x, base, dim, pivot) / dim;
        float var = centredSquares(x, base, dim, pivot, d) / dim;
        float rs = (float) (1.0 / Math.sqrt(var + eps));
        if (gamma != null && beta != null) {
            writeAffine(out, x, base, dim, pivot, d, rs, gamma, beta);
        } else {
            writePlain(out, x, base, dim, pivot, d, rs, gamma, beta);
        }
        if (mean != null) {
            mean[r] = pivot + d;
        }
        if (rstd != null) {
            rstd[r] = rs;
        }
    }

    // Each row pass is its own small method with one vector loop: C2 on JDK 17 compiles small Vector API
    // loops reliably and big ones badly (see VectorGelu).

    private static void addRow(float[] res, float[] a, float[] b, int base, int dim) {
        int c = 0;
        for (int end = S.loopBound(dim); c < end; c += L) {
            FloatVector.fromArray(S, a, base + c).add(FloatVector.fromArray(S, b, base + c)).intoArray(res, base + c);
        }
        for (; c < dim; c++) {
            res[base + c] = a[base + c] + b[base + c];
        }
    }

    /** sum of (x - pivot) over the row. */
    private static float pivotSum(float[] x, int base, int dim, float pivot) {
        int c = 0;
        float s = 0f;
        if (dim >= L) {
            FloatVector p = FloatVector.broadcast(S, pivot);
            FloatVector acc = FloatVector.zero(S);
            for (int end = S.loopBound(dim); c < end; c += L) {
                acc = acc.add(FloatVector.fromArray(S, x, base + c).sub(p));
            }
            s = Lanes.sum(acc);
        }
        for (; c < dim; c++) {
            s += x[base + c] - pivot;
        }
        return s;
    }

    /** sum of ((x - pivot) - d)^2 over the row. */
    private static float centredSquares(float[] x, int base, int dim, float pivot, float d) {
        int c = 0;
        float s = 0f;
        if (dim >= L) {
            FloatVector p = FloatVector.broadcast(S, pivot);
            FloatVector dv = FloatVector.broadcast(S, d);
            FloatVector acc = FloatVector.zero(S);
            for (int end = S.loopBound(dim); c < end; c += L) {
                FloatVector cc = FloatVector.fromArray(S, x, base + c).sub(p).sub(dv);
                acc = cc.fma(cc, acc);
            }
            s = Lanes.sum(acc);
        }
        for (; c < dim; c++) {
            float cc = x[base + c] - pivot - d;
            s = Math.fma(cc, cc, s);
        }
        return s;
    }

    /** out = ((x - pivot) - d) * rs * gamma + beta. */
    private static void writeAffine(float[] out, float[] x, int base, int dim, float pivot, float d, float rs,
                                    float[] gamma, float[] beta) {
        int c = 0;
        FloatVector p = FloatVector.broadcast(S, pivot);
        FloatVector dv = FloatVector.broadcast(S, d);
        FloatVector rv = FloatVector.broadcast(S, rs);
        for (int end = S.loopBound(dim); c < end; c += L) {
            FloatVector n = FloatVector.fromArray(S, x, base + c).sub(p).sub(dv).mul(rv);
            n.fma(FloatVector.fromArray(S, gamma, c), FloatVector.fromArray(S, beta, c)).intoArray(out, base + c);
        }
        for (; c < dim; c++) {
            out[base + c] = Math.fma((x[base + c] - pivot - d) * rs, gamma[c], beta[c]);
        }
    }

    /** As {@link #writeAffine} with gamma and/or beta missing (1 and 0). Not on the model's path. */
    private static void writePlain(float[] out, float[] x, int base, int dim, float pivot, float d, float rs,
                                   float[] gamma, float[] beta) {
        for (int c = 0; c < dim; c++) {
            float n = (x[base + c] - pivot - d) * rs;
            out[base + c] = Math.fma(n, gamma == null ? 1f : gamma[c], beta == null ? 0f : beta[c]);
        }
    }

    /** See {@link dev.dynalora.kernels.Kernels#layerNormBackward}. */
    public static void backward(Kernels k, float[] dx, float[] dgamma, float[] dbeta, float[] dout,
                                float[] x, float[] gamma, float[] mean, float[] rstd, int rows, int dim,
                                boolean overwriteDx) {
        if (rows == 0 || (dx == null && dgamma == null && dbeta == null)) {
            return;
        }
        if (dx != null) {
            run(k, rows, dim, (r0, r1) -> {
                float[] g = gamma != null ? gamma : ones(dim);
                float[] sums = new float[2];
                for (int r = r0; r < r1; r++) {
                    int base = r * dim;
                    float m = mean[r];
                    float rs = rstd[r];
                    rowSums(dout, x, g, base, dim, m, rs, sums);
                    rowDx(dx, dout, x, g, base, dim, m, rs, sums[0] / dim, sums[1] / dim, overwriteDx);
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

    private static float[] ones(int dim) {
        float[] g = new float[dim];
        java.util.Arrays.fill(g, 1f);
        return g;
    }

    /** sums[0] = sum of g, sums[1] = sum of g * xhat over the row, with g = dout * gamma. */
    private static void rowSums(float[] dout, float[] x, float[] gamma, int base, int dim, float m, float rs,
                                float[] sums) {
        int c = 0;
        float sg = 0f;
        float sgx = 0f;
        if (dim >= L) {
            FloatVector mv = FloatVector.broadcast(S, m);
            FloatVector rv = FloatVector.broadcast(S, rs);
            FloatVector ag = FloatVector.zero(S);
            FloatVector agx = ag;
            for (int end = S.loopBound(dim); c < end; c += L) {
                FloatVector g = FloatVector.fromArray(S, dout, base + c).mul(FloatVector.fromArray(S, gamma, c));
                FloatVector xh = FloatVector.fromArray(S, x, base + c).sub(mv).mul(rv);
                ag = ag.add(g);
                agx = g.fma(xh, agx);
            }
            sg = Lanes.sum(ag);
            sgx = Lanes.sum(agx);
        }
        for (; c < dim; c++) {
            float g = dout[base + c] * gamma[c];
            sg += g;
            sgx = Math.fma(g, (x[base + c] - m) * rs, sgx);
        }
        sums[0] = sg;
        sums[1] = sgx;
    }

    /** dx (+)= rs * (g - meanG - xhat * meanGX) over the row. */
    private static void rowDx(float[] dx, float[] dout, float[] x, float[] gamma, int base, int dim, float m,
                              float rs, float meanG, float meanGX, boolean overwrite) {
        if (overwrite) {
            rowDxOverwrite(dx, dout, x, gamma, base, dim, m, rs, meanG, meanGX);
            return;
        }
        int c = 0;
        FloatVector mv = FloatVector.broadcast(S, m);
        FloatVector rv = FloatVector.broadcast(S, rs);
        FloatVector mg = FloatVector.broadcast(S, meanG);
        FloatVector mgx = FloatVector.broadcast(S, -meanGX);
        for (int end = S.loopBound(dim); c < end; c += L) {
            FloatVector g = FloatVector.fromArray(S, dout, base + c).mul(FloatVector.fromArray(S, gamma, c));
            FloatVector xh = FloatVector.fromArray(S, x, base + c).sub(mv).mul(rv);
            FloatVector t = xh.fma(mgx, g.sub(mg));
            t.fma(rv, FloatVector.fromArray(S, dx, base + c)).intoArray(dx, base + c);
        }
        for (; c < dim; c++) {
            float g = dout[base + c] * gamma[c];
            float xh = (x[base + c] - m) * rs;
            dx[base + c] = Math.fma(Math.fma(xh, -meanGX, g - meanG), rs, dx[base + c]);
        }
    }

    /** A separate loop rather than a select between zero and dx inside one (a vector phi C2 may box). */
    private static void rowDxOverwrite(float[] dx, float[] dout, float[] x, float[] gamma, int base, int dim,
                                       float m, float rs, float meanG, float meanGX) {
        int c = 0;
        FloatVector mv = FloatVector.broadcast(S, m);
        FloatVector rv = FloatVector.broadcast(S, rs);
        FloatVector mg = FloatVector.broadcast(S, meanG);
        FloatVector mgx = FloatVector.broadcast(S, -meanGX);
        for (int end = S.loopBound(dim); c < end; c += L) {
            FloatVector g = FloatVector.fromArray(S, dout, base + c).mul(FloatVector.fromArray(S, gamma, c));
            FloatVector xh = FloatVector.fromArray(S, x, base + c).sub(mv).mul(rv);
            xh.fma(mgx, g.sub(mg)).mul(rv).intoArray(dx, base + c);
        }
        for (; c < dim; c++) {
            float g = dout[base + c] * gamma[c];
            float xh = (x[base + c] - m) * rs;
            dx[base + c] = Math.fma(xh, -meanGX, g - meanG) * rs;
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
