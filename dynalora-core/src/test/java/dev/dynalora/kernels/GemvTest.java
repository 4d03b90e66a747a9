package dev.dynalora.kernels;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The few-rows A . B^T path of {@link CpuKernels} (kernels.Gemv; the general checks against the reference are
 * in {@link SgemmTest}, whose shapes include every m up to 8): a row of C must not depend on how many other
 * rows share the product, nor on the thread count, even where the columns are split across threads. That is
 * what makes a sequence decoded alone bit-identical to the same sequence inside a batch.
 */
class GemvTest {

    static float[] random(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextDouble(-1, 1);
        }
        return a;
    }

    @Test
    void rowsDoNotDependOnTheOtherRowsOrTheThreadCount() {
        SplittableRandom r = new SplittableRandom(5);
        // n * k above the parallel threshold; k with a scalar tail for every vector width.
        int n = 1203;
        int k = 301;
        float[] a = random(r, CpuKernels.SMALL_M * k);
        float[] b = random(r, n * k);
        try (CpuKernels one = new CpuKernels(1); CpuKernels two = new CpuKernels(2); CpuKernels three = new CpuKernels(3)) {
            float[] all = new float[CpuKernels.SMALL_M * n];
            one.sgemm(false, true, CpuKernels.SMALL_M, n, k, 1f, a, 0, k, b, 0, k, 0f, all, 0, n);
            for (int m = 1; m <= CpuKernels.SMALL_M; m++) {
                for (CpuKernels kern : new CpuKernels[] {one, two, three}) {
                    float[] c = new float[m * n];
                    kern.sgemm(false, true, m, n, k, 1f, a, 0, k, b, 0, k, 0f, c, 0, n);
                    assertArrayEquals(Arrays.copyOf(all, m * n), c, "m=" + m + " threads=" + kern.threads());
                }
            }
            // A row alone, from an offset, through sgemmLocal: still the same bits.
            int row = CpuKernels.SMALL_M - 1;
            float[] c = new float[n];
            one.sgemmLocal(false, true, 1, n, k, 1f, a, row * k, k, b, 0, k, 0f, c, 0, n);
            assertArrayEquals(Arrays.copyOfRange(all, row * n, (row + 1) * n), c);
        }
    }

    @Test
    void matchesDoublePrecisionDotProducts() {
        SplittableRandom r = new SplittableRandom(9);
        int n = 37;
        int k = 288;
        float[] a = random(r, 3 * k);
        float[] b = random(r, n * k);
        float[] c = random(r, 3 * n);
        float[] c0 = c.clone();
        try (CpuKernels kern = new CpuKernels(1)) {
            kern.sgemm(false, true, 3, n, k, 0.5f, a, 0, k, b, 0, k, 1f, c, 0, n);
        }
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    s += (double) a[i * k + p] * b[j * k + p];
                }
                assertEquals(0.5 * s + c0[i * n + j], c[i * n + j], 1e-4, i + "," + j);
            }
        }
    }
}
