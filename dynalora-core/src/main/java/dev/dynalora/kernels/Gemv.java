package dev.dynalora.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * C = alpha * A . B^T + beta * C for a handful of rows of A: the product of a decode step's activations
 * (one row per sequence) with a weight matrix stored [out, in], which is B here. With so few rows the
 * blocked SGEMM wastes most of its work: it packs (transposes) the whole of B on every call and pads A to a
 * full micro-tile of MR rows. Here each element of C is a dot product of two contiguous rows, B is read
 * once, straight from where it lies, and the loop is bound by memory bandwidth, as a matrix-vector
 * product must be.
 *
 * <p>Arithmetic: every element gets the same float operations whatever kernel, tile or thread computes it
 * (vector FMAs over the full vectors of k in order, the lanes summed in a fixed pairwise order, the scalar
 * tail of k added with FMAs, then alpha and beta applied as the GEMM does), so a row of C does not depend
 * on m, on how many other rows share the call, or on the thread count. A sequence decoded alone therefore
 * gets exactly the numbers it gets inside a batch. (The result differs from the blocked GEMM's, which sums
 * each element in k order, by float rounding only.) The lanes are not summed with
 * {@code reduceLanes(ADD)}, whose order differs between the interpreter and C2 (see kernels.vector.Lanes).
 *
 * <p>The kernels keep their accumulators in locals and sum their lanes in registers before returning:
 * no vector crosses a method call (on JDK 17 an uninlined call boxes it).
 */
final class Gemv {
    private Gemv() {
    }

    private static final VectorSpecies<Float> F = CpuKernels.F;
    private static final int L = F.length();
    /** Rows of A per tile: one row of B meets up to four rows of A at a time. */
    static final int ROWS = 4;

    /**
     * Lane permutations i -> i ^ w for w = L/2, L/4, ..., 1: adding a vector to itself permuted by each in
     * turn leaves the sum of all lanes in every lane, by a fixed pairwise tree (the same in the interpreter
     * and in compiled code, unlike reduceLanes).
     */
    private static final VectorShuffle<Float>[] BUTTERFLY = butterfly();

    private static final ThreadLocal<float[]> SCRATCH = ThreadLocal.withInitial(() -> new float[ROWS]);

    /**
     * Columns [j0, j1) of C = alpha * A[m x k] . B[n x k]^T + beta * C (A row-major with lda, B row-major
     * [n, k] with ldb). k > 0. The rows of B are the outer loop, each read once, front to back, while every
     * row of A passes over it from L1: one sequential stream through B. (Interleaving four rows of B per
     * tile, to reuse each load of A, measured half the bandwidth: the hardware prefetcher follows one
     * stream well and four interleaved ones badly.)
     */
    static void run(int m, int j0, int j1, int k, float alpha, float[] a, int aOff, int lda,
                    float[] b, int bOff, int ldb, float beta, float[] c, int cOff, int ldc) {
        float[] sums = SCRATCH.get();
        int full = F.loopBound(k);
        for (int j = j0; j < j1; j++) {
            int bo = bOff + j * ldb;
            int i = 0;
            for (; i + ROWS <= m; i += ROWS) {
                int ao = aOff + i * lda;
                dot4x1(full, a, ao, lda, b, bo, sums);
                for (int r = 0; r < ROWS; r++) {
                    store(sums[r], k, full, alpha, a, ao + r * lda, b, bo, beta, c, cOff + (i + r) * ldc + j);
                }
            }
            for (; i < m; i++) {
                int ao = aOff + i * lda;
                store(dot1x1(full, a, ao, b, bo), k, full, alpha, a, ao, b, bo, beta, c, cOff + i * ldc + j);
            }
        }
    }

    /** Adds the scalar tail of k (p >= full) to the vector part s and stores alpha * s + beta * c. */
    private static void store(float s, int k, int full, float alpha, float[] a, int ai, float[] b, int bi,
                              float beta, float[] c, int ci) {
        for (int p = full; p < k; p++) {
            s = Math.fma(a[ai + p], b[bi + p], s);
        }
        if (beta == 0f) {
            c[ci] = s * alpha;
        } else if (beta == 1f) {
            c[ci] = Math.fma(s, alpha, c[ci]);
        } else {
            c[ci] = Math.fma(s, alpha, c[ci] * beta);
        }
    }

    /** Four rows of A against one row of B: each load of B feeds four FMAs. Lane sums go to sums[0..4). */
    private static void dot4x1(int full, float[] a, int ao, int lda, float[] b, int bo, float[] sums) {
        FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
        int a1 = ao + lda;
        int a2 = a1 + lda;
        int a3 = a2 + lda;
        for (int p = 0; p < full; p += L) {
            FloatVector bv = FloatVector.fromArray(F, b, bo + p);
            s0 = FloatVector.fromArray(F, a, ao + p).fma(bv, s0);
            s1 = FloatVector.fromArray(F, a, a1 + p).fma(bv, s1);
            s2 = FloatVector.fromArray(F, a, a2 + p).fma(bv, s2);
            s3 = FloatVector.fromArray(F, a, a3 + p).fma(bv, s3);
        }
        for (VectorShuffle<Float> sh : BUTTERFLY) {
            s0 = s0.add(s0.rearrange(sh));
            s1 = s1.add(s1.rearrange(sh));
            s2 = s2.add(s2.rearrange(sh));
            s3 = s3.add(s3.rearrange(sh));
        }
        sums[0] = s0.lane(0);
        sums[1] = s1.lane(0);
        sums[2] = s2.lane(0);
        sums[3] = s3.lane(0);
    }

    /** One row of A against one row of B: the lane sum of the vector part. */
    private static float dot1x1(int full, float[] a, int ao, float[] b, int bo) {
        FloatVector s = FloatVector.zero(F);
        for (int p = 0; p < full; p += L) {
            s = FloatVector.fromArray(F, a, ao + p).fma(FloatVector.fromArray(F, b, bo + p), s);
        }
        for (VectorShuffle<Float> sh : BUTTERFLY) {
            s = s.add(s.rearrange(sh));
        }
        return s.lane(0);
    }

    @SuppressWarnings("unchecked")
    private static VectorShuffle<Float>[] butterfly() {
        int steps = Integer.numberOfTrailingZeros(L);
        VectorShuffle<Float>[] s = new VectorShuffle[steps];
        for (int t = 0; t < steps; t++) {
            int w = L >> (t + 1);
            s[t] = VectorShuffle.fromOp(F, i -> i ^ w);
        }
        return s;
    }
}
