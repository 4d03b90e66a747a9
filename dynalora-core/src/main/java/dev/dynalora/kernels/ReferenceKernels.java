package dev.dynalora.kernels;

import dev.dynalora.kernels.vector.VectorKernels;

/**
 * A single-threaded backend whose matrix products are a plain triple loop accumulating in double: the
 * independent reference that the blocked SGEMM is tested against (SgemmTest), and a backend on which the
 * layers' unit tests run the default element-wise operations ({@link VectorKernels}, the same code as
 * {@link CpuKernels}) around an easily trusted product. Not something to run models on. For an independent
 * reference of every operation, see {@link ScalarKernels}.
 */
public final class ReferenceKernels extends VectorKernels {

    @Override
    public int threads() {
        return 1;
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                      float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                      float beta, float[] c, int cOff, int ldc) {
        sgemmLocal(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
    }

    @Override
    public void sgemmLocal(boolean transA, boolean transB, int m, int n, int k, float alpha,
                           float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                           float beta, float[] c, int cOff, int ldc) {
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    float av = transA ? a[aOff + p * lda + i] : a[aOff + i * lda + p];
                    float bv = transB ? b[bOff + j * ldb + p] : b[bOff + p * ldb + j];
                    s += (double) av * bv;
                }
                int ci = cOff + i * ldc + j;
                c[ci] = (float) (alpha * s + (beta == 0f ? 0.0 : (double) beta * c[ci]));
            }
        }
    }

    @Override
    public void parallelFor(int n, RangeBody body) {
        if (n > 0) {
            body.run(0, n);
        }
    }

    @Override
    public void parallelForDynamic(int n, int block, RangeBody body) {
        if (block < 1) {
            throw new IllegalArgumentException("block must be >= 1, got " + block);
        }
        parallelFor(n, body);
    }
}
