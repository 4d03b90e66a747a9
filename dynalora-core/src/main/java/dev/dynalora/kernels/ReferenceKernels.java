package dev.dynalora.kernels;

/**
 * A plain triple-loop implementation of {@link Kernels}, single-threaded, accumulating in double. It is
 * the independent reference that the fast kernels are tested against, not something to run models on.
 */
public final class ReferenceKernels implements Kernels {

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
