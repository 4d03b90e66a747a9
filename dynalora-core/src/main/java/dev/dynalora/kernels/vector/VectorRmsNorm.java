package dev.dynalora.kernels.vector;

import dev.dynalora.kernels.Kernels;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * RMS norm on the Vector API ({@link dev.dynalora.kernels.Kernels#rmsNormForward},
 * {@link dev.dynalora.kernels.Kernels#rmsNormBackward}). The product is formed as (x * rstd) * w, two float
 * roundings in that order, as Hugging Face's LlamaRMSNorm and the PyTorch reference do. The sums run in
 * vector lanes in a fixed order (then {@link Lanes#sum}), so a row's result depends only on the row, never
 * on how rows are split across threads.
 */
public final class VectorRmsNorm {

    private VectorRmsNorm() {
    }

    /** Below this many elements the work runs on the calling thread. */
    private static final int MIN_PARALLEL = 1 << 14;

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    /** See {@link dev.dynalora.kernels.Kernels#rmsNormForward}. */
    public static void forward(Kernels k, float[] out, float[] rstd, float[] x, float[] weight,
                               int rows, int dim, float eps) {
        run(k, rows, dim, (r0, r1) -> {
            float[] w = weight != null ? weight : ones(dim);
            for (int r = r0; r < r1; r++) {
                int base = r * dim;
                float meanSq = sumSquares(x, base, dim) / dim;
                float rs = (float) (1.0 / Math.sqrt(meanSq + eps));
                scaleRow(out, x, w, base, dim, rs);
                if (rstd != null) {
                    rstd[r] = rs;
                }
            }
        });
    }

    /** See {@link dev.dynalora.kernels.Kernels#rmsNormBackward}. */
    public static void backward(Kernels k, float[] dx, float[] dweight, float[] dout, float[] x, float[] weight,
                                float[] rstd, int rows, int dim, boolean overwriteDx) {
        if (rows == 0 || (dx == null && dweight == null)) {
            return;
        }
        if (dx != null) {
            run(k, rows, dim, (r0, r1) -> {
                float[] w = weight != null ? weight : ones(dim);
                for (int r = r0; r < r1; r++) {
                    int base = r * dim;
                    float rs = rstd[r];
                    float c = rs * rs * gradDot(dout, x, w, base, dim) / dim;
                    rowDx(dx, dout, x, w, base, dim, rs, c, overwriteDx);
                }
            });
        }
        if (dweight != null) {
            // A reduction over rows: parallel over column chunks, each thread walking all rows in order, so
            // no sum is ever split across threads (identical results for any thread count).
            Kernels.RangeBody body = (c0, c1) -> {
                for (int r = 0; r < rows; r++) {
                    int base = r * dim;
                    float rs = rstd[r];
                    for (int c = c0; c < c1; c++) {
                        dweight[c] += dout[base + c] * (x[base + c] * rs);
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

    // Each row pass is its own small method with one vector loop (C2 on JDK 17 compiles those reliably; see VectorGelu).

    /** sum of x^2 over the row. */
    private static float sumSquares(float[] x, int base, int dim) {
        int c = 0;
        float s = 0f;
        if (dim >= L) {
            FloatVector acc = FloatVector.zero(S);
            for (int end = S.loopBound(dim); c < end; c += L) {
                FloatVector v = FloatVector.fromArray(S, x, base + c);
                acc = v.fma(v, acc);
            }
            s = Lanes.sum(acc);
        }
        for (; c < dim; c++) {
            s = Math.fma(x[base + c], x[base + c], s);
        }
        return s;
    }

    /** out = (x * rs) * w over the row. */
    private static void scaleRow(float[] out, float[] x, float[] w, int base, int dim, float rs) {
        int c = 0;
        FloatVector rv = FloatVector.broadcast(S, rs);
        for (int end = S.loopBound(dim); c < end; c += L) {
            FloatVector.fromArray(S, x, base + c).mul(rv).mul(FloatVector.fromArray(S, w, c)).intoArray(out, base + c);
        }
        for (; c < dim; c++) {
            out[base + c] = (x[base + c] * rs) * w[c];
        }
    }

    /** sum of dout * w * x over the row. */
    private static float gradDot(float[] dout, float[] x, float[] w, int base, int dim) {
        int c = 0;
        float s = 0f;
        if (dim >= L) {
            FloatVector acc = FloatVector.zero(S);
            for (int end = S.loopBound(dim); c < end; c += L) {
                FloatVector g = FloatVector.fromArray(S, dout, base + c).mul(FloatVector.fromArray(S, w, c));
                acc = g.fma(FloatVector.fromArray(S, x, base + c), acc);
            }
            s = Lanes.sum(acc);
        }
        for (; c < dim; c++) {
            s = Math.fma(dout[base + c] * w[c], x[base + c], s);
        }
        return s;
    }

    /** dx (+)= rs * (dout * w - x * c) over the row, c = rs^2 * sum(g x) / dim. */
    private static void rowDx(float[] dx, float[] dout, float[] x, float[] w, int base, int dim, float rs, float c,
                              boolean overwrite) {
        int i = 0;
        FloatVector rv = FloatVector.broadcast(S, rs);
        FloatVector cv = FloatVector.broadcast(S, -c);
        for (int end = S.loopBound(dim); i < end; i += L) {
            FloatVector g = FloatVector.fromArray(S, dout, base + i).mul(FloatVector.fromArray(S, w, i));
            FloatVector t = FloatVector.fromArray(S, x, base + i).fma(cv, g);
            // Two stores rather than a select between zero and dx (a vector phi C2 may box; see VectorLayerNorm).
            if (overwrite) {
                t.mul(rv).intoArray(dx, base + i);
            } else {
                t.fma(rv, FloatVector.fromArray(S, dx, base + i)).intoArray(dx, base + i);
            }
        }
        for (; i < dim; i++) {
            float t = Math.fma(x[base + i], -c, dout[base + i] * w[i]);
            dx[base + i] = overwrite ? t * rs : Math.fma(t, rs, dx[base + i]);
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
