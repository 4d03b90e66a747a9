package dev.dynalora.serving;

import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.kernels.vector.VectorKernels;

/**
 * The kernels a decode step runs on: a backend whose dot-product path (kernels.Gemv) takes products A . B^T of
 * up to {@code block} rows of A, and which cuts a product with more rows into blocks of that many. The
 * dot-product path gives every row of C the same float operations whatever the number of rows beside it and
 * the number of threads; the blocked SGEMM that larger products would go to rounds differently. So every row
 * of a decode step of any size stays on the dot-product path, and a sequence decoded among 31 others gets the
 * numbers it gets alone (as {@code dynalora generate} decodes it: one row, or its own batch of up to 8), token
 * for token.
 *
 * <p>The server builds its decode backend with a dot-product limit of {@value #DECODE_ROWS} rows (the
 * backend's default, {@code dynalora.sgemm.smallM}, is 8): each weight matrix is then streamed once per 32
 * sequences rather than once per 8, while the rows of A stay in cache (measured about 10% faster per step of
 * 32 sequences on stories15M than blocks of 8).
 *
 * <p>The element-wise and row operations are the Vector API ones of {@link VectorKernels}, run on the inner
 * backend's threads: the same as CpuKernels', whose results do not depend on the thread count.
 */
final class RowInvariantKernels extends VectorKernels implements AutoCloseable {
    /** Rows of A per product in a decode step: the dot-product limit of the server's decode backend. */
    static final int DECODE_ROWS = 32;

    private final Kernels inner;
    private final int block;

    RowInvariantKernels(Kernels inner, int block) {
        if (block < 1) {
            throw new IllegalArgumentException("block must be >= 1, got " + block);
        }
        this.inner = inner;
        this.block = block;
    }

    /** A backend of {@code threads} threads whose dot-product path takes up to DECODE_ROWS rows, cut into blocks of that many. */
    static RowInvariantKernels forDecode(int threads) {
        return new RowInvariantKernels(new CpuKernels(threads, DECODE_ROWS), DECODE_ROWS);
    }

    /** @param block at most the inner backend's dot-product row limit */
    @Override
    public void close() {
        if (inner instanceof AutoCloseable c) {
            try {
                c.close();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
    }

    @Override
    public int threads() {
        return inner.threads();
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a, int aOff, int lda,
                      float[] b, int bOff, int ldb, float beta, float[] c, int cOff, int ldc) {
        inBlocks(false, transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
    }

    @Override
    public void sgemmLocal(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a, int aOff, int lda,
                           float[] b, int bOff, int ldb, float beta, float[] c, int cOff, int ldc) {
        inBlocks(true, transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
    }

    /** An A . B^T product of more than block rows as products of block rows each; anything else as it is. */
    private void inBlocks(boolean local, boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a,
                          int aOff, int lda, float[] b, int bOff, int ldb, float beta, float[] c, int cOff, int ldc) {
        int step = transA || !transB ? Math.max(m, 1) : block;
        for (int i = 0; i < m || i == 0; i += step) {
            int rows = Math.min(step, m - i);
            if (local) {
                inner.sgemmLocal(transA, transB, rows, n, k, alpha, a, aOff + i * lda, lda, b, bOff, ldb, beta, c, cOff + i * ldc, ldc);
            } else {
                inner.sgemm(transA, transB, rows, n, k, alpha, a, aOff + i * lda, lda, b, bOff, ldb, beta, c, cOff + i * ldc, ldc);
            }
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
