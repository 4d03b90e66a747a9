package dev.dynalora.serving;

import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.kernels.Kernels;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * What the server's batch invariance rests on: a linear layer's product x W^T computes each row of the output
 * bit for bit the same whatever the number of rows beside it (up to 8 on the default backend's dot-product path,
 * any number through {@link RowInvariantKernels}) and whatever the thread count.
 */
class RowInvariantKernelsTest {
    private static float[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextDouble(-1, 1);
        }
        return v;
    }

    /** Row i of x W^T computed with the given kernels and the given number of rows (the rows being x's first m). */
    private static float[] rows(Kernels k, float[] x, float[] w, int m, int n, int kk) {
        float[] y = new float[m * n];
        k.sgemm(false, true, m, n, kk, 1f, x, 0, kk, w, 0, kk, 0f, y, 0, n);
        return y;
    }

    @Test
    void eachRowIsTheSameAloneOrAmongOthersAndForAnyThreadCount() {
        // Shapes of stories15M's projections and lm_head (288 -> 288, 288 -> 768, 768 -> 288, 288 -> 32000) and an
        // odd one; 32000 x 288 is large enough that the product is split across threads.
        int[][] shapes = {{288, 288}, {768, 288}, {288, 768}, {32000, 288}, {77, 45}};
        int maxRows = 70;
        for (int[] s : shapes) {
            int n = s[0];
            int kk = s[1];
            float[] w = random(n * kk, 1 + n);
            float[] x = random(maxRows * kk, 2 + kk);
            float[] alone;
            try (CpuKernels one = new CpuKernels(1)) {
                alone = new float[maxRows * n];
                for (int i = 0; i < maxRows; i++) {
                    float[] xi = Arrays.copyOfRange(x, i * kk, (i + 1) * kk);
                    System.arraycopy(rows(one, xi, w, 1, n, kk), 0, alone, i * n, n);
                }
            }
            for (int threads : new int[] {1, 2, 3}) {
                try (CpuKernels k = new CpuKernels(threads)) {
                    for (int m = 1; m <= 8; m++) {
                        float[] y = rows(k, x, w, m, n, kk);
                        assertArrayEquals(Arrays.copyOf(alone, m * n), y, "dot-product path, " + m + " rows, " + threads
                                + " threads, W " + n + "x" + kk);
                    }
                    RowInvariantKernels eights = new RowInvariantKernels(k, 8);
                    for (int m : new int[] {9, 16, 17, 32}) {
                        float[] y = rows(eights, x, w, m, n, kk);
                        assertArrayEquals(Arrays.copyOf(alone, m * n), y, "blocks of 8 rows, " + m + " rows, "
                                + threads + " threads, W " + n + "x" + kk);
                    }
                }
                // The server's decode backend: the dot-product path up to 32 rows, blocks of 32 beyond.
                try (RowInvariantKernels decode = RowInvariantKernels.forDecode(threads)) {
                    for (int m : new int[] {1, 5, 9, 31, 32, 33, 64, 70}) {
                        float[] y = rows(decode, x, w, m, n, kk);
                        assertArrayEquals(Arrays.copyOf(alone, m * n), y, "decode backend, " + m + " rows, "
                                + threads + " threads, W " + n + "x" + kk);
                    }
                }
            }
        }
    }
}
