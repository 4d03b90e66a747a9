package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;
import dev.dynalora.kernels.ReferenceKernels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;
import java.util.Random;

import static dev.dynalora.layers.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

class DropoutTest {

    static List<Kernels> kernels() {
        return TestSupport.kernels();
    }

    private static final int N = 40_000; // above the parallel threshold

    @ParameterizedTest
    @MethodSource("kernels")
    void maskDependsOnlyOnSeedStreamAndIndex(Kernels k) {
        Random rnd = new Random(50);
        float[] x = randn(rnd, N, 1);
        float p = 0.1f;
        float[] a = new float[N];
        Dropout.forward(new ReferenceKernels(), a, x, N, p, 1234L, 7L);
        float[] b = new float[N];
        Dropout.forward(k, b, x, N, p, 1234L, 7L);
        assertArrayEquals(a, b, "same (seed, stream) on another backend / thread count");
        float[] inPlace = x.clone();
        Dropout.forward(k, inPlace, inPlace, N, p, 1234L, 7L);
        assertArrayEquals(a, inPlace, "in place");

        // A prefix computed on its own matches: the mask is per index, not per call.
        float[] prefix = new float[1000];
        Dropout.forward(k, prefix, x, 1000, p, 1234L, 7L);
        for (int i = 0; i < 1000; i++) {
            assertEquals(a[i], prefix[i]);
        }

        float scale = (float) (1.0 / (1.0 - p));
        int dropped = 0;
        for (int i = 0; i < N; i++) {
            boolean kept = Dropout.isKept(1234L, 7L, i, p);
            assertEquals(kept ? x[i] * scale : 0f, a[i], "element " + i);
            if (!kept) {
                dropped++;
            }
        }
        // Binomial(40000, 0.1): sd 60, so +-300 is a 5-sigma band.
        assertEquals(N * p, dropped, 300, "drop fraction");

        float[] otherStream = new float[N], otherSeed = new float[N];
        Dropout.forward(k, otherStream, x, N, p, 1234L, 8L);
        Dropout.forward(k, otherSeed, x, N, p, 1235L, 7L);
        assertFalse(java.util.Arrays.equals(a, otherStream), "streams must differ");
        assertFalse(java.util.Arrays.equals(a, otherSeed), "seeds must differ");
        // Masks of different streams are independent: overlap of drops ~ p^2.
        int both = 0;
        for (int i = 0; i < N; i++) {
            if (a[i] == 0f && otherStream[i] == 0f) {
                both++;
            }
        }
        assertEquals(N * p * p, both, 100, "independent streams");
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void backwardUsesTheForwardMaskAndAccumulates(Kernels k) {
        Random rnd = new Random(51);
        float p = 0.3f;
        float[] x = randn(rnd, N, 1);
        float[] y = new float[N];
        Dropout.forward(k, y, x, N, p, 99L, 3L);
        float[] dout = randn(rnd, N, 1);
        float[] g0 = randn(rnd, N, 1);
        float[] dx = g0.clone();
        Dropout.backward(k, dx, dout, N, p, 99L, 3L);
        float scale = (float) (1.0 / (1.0 - p));
        for (int i = 0; i < N; i++) {
            // y is linear in x: dy/dx is the scale where kept, 0 where dropped
            float slope = y[i] == 0f && x[i] != 0f ? 0f : scale;
            assertEquals(g0[i] + slope * dout[i], dx[i], 1e-6f * (1 + Math.abs(dx[i])), "element " + i);
        }
        assertDoesNotThrow(() -> Dropout.backward(k, null, dout, N, p, 99L, 3L));
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void zeroProbabilityIsIdentityAndOneDropsAll(Kernels k) {
        Random rnd = new Random(52);
        float[] x = randn(rnd, N, 1);
        float[] y = filled(N, Float.NaN);
        Dropout.forward(k, y, x, N, 0f, 5L, 5L);
        assertArrayEquals(x, y);
        float[] dout = randn(rnd, N, 1);
        float[] g0 = randn(rnd, N, 1);
        float[] dx = g0.clone();
        Dropout.backward(k, dx, dout, N, 0f, 5L, 5L);
        assertArrayEquals(plus(g0, dout), dx);

        x[0] = Float.POSITIVE_INFINITY; // dropped means exactly 0, never inf * 0
        float[] z = filled(N, Float.NaN);
        Dropout.forward(k, z, x, N, 1f, 5L, 5L);
        assertArrayEquals(new float[N], z);
        float[] dz = new float[N];
        Dropout.backward(k, dz, dout, N, 1f, 5L, 5L);
        assertArrayEquals(new float[N], dz);
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void recordedMaskGivesTheSameForwardAndBackwardAsHashing(Kernels k) {
        Random rnd = new Random(53);
        for (float p : new float[]{0f, 0.1f, 0.5f, 1f}) {
            for (int n : new int[]{0, 1, 63, 64, 65, 1000, N + 37}) { // word edges, both sides of the parallel threshold
                float[] x = randn(rnd, n, 1);
                float[] plain = new float[n];
                Dropout.forward(new ReferenceKernels(), plain, x, n, p, 77L, 4L);
                float[] rec = new float[n];
                long[] keep = filled64(Dropout.maskWords(n), 0x5555L); // stale contents must be overwritten
                Dropout.forward(k, rec, x, n, p, 77L, 4L, keep);
                assertArrayEquals(plain, rec, "forward p=" + p + " n=" + n);
                for (int i = 0; i < n; i++) {
                    assertEquals(Dropout.isKept(77L, 4L, i, p), (keep[i >>> 6] >>> (i & 63) & 1L) != 0, "bit " + i);
                }
                float[] dout = randn(rnd, n, 1);
                float[] g0 = randn(rnd, n, 1);
                float[] hashed = g0.clone();
                Dropout.backward(new ReferenceKernels(), hashed, dout, n, p, 77L, 4L);
                float[] fromMask = g0.clone();
                Dropout.backward(k, fromMask, dout, n, p, keep, true);
                assertArrayEquals(hashed, fromMask, "backward p=" + p + " n=" + n);
                float[] zeroed = new float[n];
                Dropout.backward(new ReferenceKernels(), zeroed, dout, n, p, 77L, 4L);
                float[] over = filled(n, Float.NaN);
                Dropout.backward(k, over, dout, n, p, keep, false);
                assertArrayEquals(zeroed, over, "overwriting backward p=" + p + " n=" + n);
            }
        }
        assertThrows(IllegalArgumentException.class,
                () -> Dropout.forward(k, new float[65], new float[65], 65, 0.1f, 1L, 1L, new long[1]));
    }

    private static long[] filled64(int n, long v) {
        long[] a = new long[n];
        java.util.Arrays.fill(a, v);
        return a;
    }

    @Test
    void rejectsInvalidProbability() {
        Kernels k = new ReferenceKernels();
        float[] a = new float[4];
        assertThrows(IllegalArgumentException.class, () -> Dropout.forward(k, a, a, 4, -0.1f, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> Dropout.forward(k, a, a, 4, 1.5f, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> Dropout.forward(k, a, a, 4, Float.NaN, 0, 0));
    }

    @Test
    void mixerIsTheSplitMix64Finaliser() {
        // SplitMix64 with state 0 yields mix(0x9E3779B97F4A7C15) = 0xE220A8397B1DCDAF as its first output.
        assertEquals(0xE220A8397B1DCDAFL, Dropout.mix(0x9E3779B97F4A7C15L));
    }
}
