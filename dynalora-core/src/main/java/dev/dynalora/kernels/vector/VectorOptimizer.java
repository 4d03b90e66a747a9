package dev.dynalora.kernels.vector;

import dev.dynalora.kernels.Kernels;

/**
 * The AdamW update of one tensor ({@link dev.dynalora.kernels.Kernels#adamwUpdate}) and the gradient-norm
 * reduction ({@link dev.dynalora.kernels.Kernels#sumSquares}). The update is element-wise (each element's
 * float operations are the same whatever the split), so a large tensor is split across the threads; the
 * norm is one running double sum in index order, on the calling thread.
 */
public final class VectorOptimizer {

    private VectorOptimizer() {
    }

    /** Below this many elements the update runs on the calling thread. */
    private static final int MIN_PARALLEL = 1 << 15;

    /** See {@link dev.dynalora.kernels.Kernels#adamwUpdate}. */
    public static void adamwUpdate(Kernels k, float[] w, float[] g, float[] m, float[] v, int n, float beta1,
                                   float beta2, float eps, float shrink, float stepSize, float invSqrtBc2) {
        Kernels.RangeBody body = (from, to) -> {
            for (int j = from; j < to; j++) {
                float gj = g[j];
                float mj = beta1 * m[j] + (1 - beta1) * gj;
                float vj = beta2 * v[j] + (1 - beta2) * gj * gj;
                m[j] = mj;
                v[j] = vj;
                w[j] = w[j] * shrink - stepSize * mj / ((float) Math.sqrt(vj) * invSqrtBc2 + eps);
            }
        };
        if (n < MIN_PARALLEL) {
            if (n > 0) {
                body.run(0, n);
            }
        } else {
            k.parallelFor(n, body);
        }
    }

    /** See {@link dev.dynalora.kernels.Kernels#sumSquares}. */
    public static double sumSquares(double acc, float[] x, int off, int n) {
        double s = acc;
        for (int i = off; i < off + n; i++) {
            s += (double) x[i] * x[i];
        }
        return s;
    }
}
