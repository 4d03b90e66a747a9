package dev.dynalora.serving;

import dev.dynalora.kernels.Kernels;

/**
 * The kernels a decode step runs on: the backend's, except that a linear layer's product A . B^T with more
 * rows of A than the backend's dot-product path takes ({@code dynalora.sgemm.smallM}, 8) is cut into blocks
 * of that many rows. The dot-product path (kernels.Gemv) gives every row of C the same float operations
 * whatever the number of rows and threads; the blocked SGEMM that larger products go to rounds differently.
 * Cutting keeps every row of a decode step of any size on the dot-product path, so a sequence decoded among
 * 31 others gets the numbers it gets alone (as {@code dynalora generate} decodes it), token for token.
 *
 * <p>Cost: the weight matrix is streamed once per block of rows rather than once for the whole step, which
 * at 8 rows per block still shares each pass over the weights among 8 sequences.
 */
final class RowInvariantKernels implements Kernels {
    /** The backend's dot-product row limit (CpuKernels reads the same property, default 8). */
    static final int SMALL_M = smallM();

    private final Kernels inner;
    private final int block;

    RowInvariantKernels(Kernels inner) {
        this(inner, SMALL_M);
    }

    RowInvariantKernels(Kernels inner, int block) {
        if (block < 1) {
            throw new IllegalArgumentException("block must be >= 1, got " + block);
        }
        this.inner = inner;
        this.block = block;
    }

    private static int smallM() {
        String v = System.getProperty("dynalora.sgemm.smallM");
        int m = v == null || v.isBlank() ? 8 : Integer.parseInt(v.trim());
        return Math.max(1, m);
    }

    @Override
    public int threads() {
        return inner.threads();
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a, int aOff, int lda,
                      float[] b, int bOff, int ldb, float beta, float[] c, int cOff, int ldc) {
        if (transA || !transB || m <= block) {
            inner.sgemm(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        for (int i = 0; i < m; i += block) {
            int rows = Math.min(block, m - i);
            inner.sgemm(false, true, rows, n, k, alpha, a, aOff + i * lda, lda, b, bOff, ldb, beta, c, cOff + i * ldc, ldc);
        }
    }

    @Override
    public void sgemmLocal(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a, int aOff, int lda,
                           float[] b, int bOff, int ldb, float beta, float[] c, int cOff, int ldc) {
        if (transA || !transB || m <= block) {
            inner.sgemmLocal(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        for (int i = 0; i < m; i += block) {
            int rows = Math.min(block, m - i);
            inner.sgemmLocal(false, true, rows, n, k, alpha, a, aOff + i * lda, lda, b, bOff, ldb, beta, c, cOff + i * ldc, ldc);
        }
    }

    @Override
    public void parallelFor(int n, RangeBody body) {
        inner.parallelFor(n, body);
    }

    @Override
    public void parallelForDynamic(int n, int block, RangeBody body) {
        inner.parallelForDynamic(n, block, body);
    }
}
