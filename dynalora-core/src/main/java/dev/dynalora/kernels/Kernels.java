package dev.dynalora.kernels;

/**
 * The compute backend seam: the matrix products (SGEMM, and its few-row dot-product path) and the thread pool.
 * What does not go through it yet: the layers' element-wise and row-wise loops (norms, softmax, activations,
 * AdamW, the adapters' element-wise work) call the Vector API directly, so a GPU backend would still have to
 * replace those layers; moving them behind this interface, grouped into a few dozen coarse operations, is open
 * work (issue #17). All matrices are row-major float32
 * stored in flat arrays with an offset and a leading dimension (row stride), so a slice such as one
 * attention head inside a [tokens, hidden] activation is addressed without copying.
 */
public interface Kernels {

    /** Number of worker threads this backend uses (the {@code --threads} flag). */
    int threads();

    /**
     * C = alpha * op(A) * op(B) + beta * C, using all threads. op(A) is m x k, op(B) is k x n, C is m x n.
     * With transA, A is stored k x m (lda >= m); otherwise m x k (lda >= k). Likewise for B.
     * With beta == 0, C is overwritten (its old contents, even NaN, are ignored).
     * Results are deterministic for a given thread count (no reduction is split across threads).
     */
    void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
               float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
               float beta, float[] c, int cOff, int ldc);

    /** As {@link #sgemm} but runs on the calling thread only: for use inside {@link #parallelFor}. */
    void sgemmLocal(boolean transA, boolean transB, int m, int n, int k, float alpha,
                    float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                    float beta, float[] c, int cOff, int ldc);

    /**
     * Runs body over [0, n) split into at most {@link #threads()} contiguous chunks, one per thread, and
     * waits for all. The split depends only on n and the thread count, which keeps results deterministic.
     */
    void parallelFor(int n, RangeBody body);

    /**
     * Runs body over [0, n) in blocks of {@code block} consecutive indices (the last may be shorter) that
     * the threads take from a shared counter as they become free, and waits for all. Only for loops whose
     * result for each index does not depend on which indices share a call of body (per-item work, no
     * partial sums per chunk): results are then deterministic while a slowed thread no longer holds up the
     * others, as it does with {@link #parallelFor}'s fixed split.
     */
    void parallelForDynamic(int n, int block, RangeBody body);

    /** A chunk of work [from, to) of a parallel loop. */
    @FunctionalInterface
    interface RangeBody {
        void run(int from, int to);
    }
}
