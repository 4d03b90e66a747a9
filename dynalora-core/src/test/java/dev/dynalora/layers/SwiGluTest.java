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

class SwiGluTest {

    static List<Kernels> kernels() {
        return TestSupport.kernels();
    }

    /** h = silu(gate) * up in double; inputs gate, up. */
    static double[] ref(double[][] in) {
        double[] g = in[0], u = in[1];
        double[] h = new double[g.length];
        for (int i = 0; i < g.length; i++) {
            h[i] = SwiGlu.silu(g[i]) * u[i];
        }
        return h;
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void forwardMatchesReference(Kernels k) {
        Random rnd = new Random(40);
        for (int n : new int[]{1, 13, 16, 37, 1000, 20_011}) {
            float[] g = randn(rnd, n, 3), u = randn(rnd, n, 1);
            g[0] = n > 1 ? -100f : 0f; // far tail: exp underflows to 0, silu to -0
            float[] h = filled(n, Float.NaN);
            SwiGlu.forward(k, h, g, u, n);
            assertClose("h " + n, ref(new double[][]{toDouble(g), toDouble(u)}), h, 1e-6, 1e-6);
            float[] inPlace = g.clone();
            SwiGlu.forward(k, inPlace, inPlace, u, n);
            assertArrayEquals(h, inPlace);
        }
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void gradientsMatchFiniteDifferences(Kernels k) {
        Random rnd = new Random(41);
        for (int n : new int[]{7, 37}) {
            float[] g = randn(rnd, n, 3), u = randn(rnd, n, 1), dh = randn(rnd, n, 1);
            float[] dg = filled(n, Float.NaN), du = filled(n, Float.NaN);
            SwiGlu.backward(k, dg, du, dh, g, u, n);
            double[][] in = {toDouble(g), toDouble(u)};
            assertClose("dgate " + n, numericGrad(SwiGluTest::ref, in, 0, dh, 1e-5), dg, 1e-6, 1e-5);
            assertClose("dup " + n, numericGrad(SwiGluTest::ref, in, 1, dh, 1e-5), du, 1e-6, 1e-5);
        }
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void backwardAliasesNullsAndSplitIndependence(Kernels k) {
        Random rnd = new Random(42);
        int n = 20_011; // above the parallel threshold, odd
        float[] g = randn(rnd, n, 4), u = randn(rnd, n, 1), dh = randn(rnd, n, 1);
        float[] h = new float[n], dg = new float[n], du = new float[n];
        SwiGlu.forward(k, h, g, u, n);
        SwiGlu.backward(k, dg, du, dh, g, u, n);

        Kernels ref = new ReferenceKernels();
        float[] hR = new float[n], dgR = new float[n], duR = new float[n];
        SwiGlu.forward(ref, hR, g, u, n);
        SwiGlu.backward(ref, dgR, duR, dh, g, u, n);
        assertArrayEquals(hR, h);
        assertArrayEquals(dgR, dg);
        assertArrayEquals(duR, du);

        // dGate written over dh (the model's buffer reuse), then dUp over dh.
        float[] d1 = dh.clone(), du1 = new float[n];
        SwiGlu.backward(k, d1, du1, d1, g, u, n);
        assertArrayEquals(dg, d1);
        assertArrayEquals(du, du1);
        float[] d2 = dh.clone(), dg2 = new float[n];
        SwiGlu.backward(k, dg2, d2, d2, g, u, n);
        assertArrayEquals(dg, dg2);
        assertArrayEquals(du, d2);
        // one output only
        float[] dgOnly = new float[n];
        SwiGlu.backward(k, dgOnly, null, dh, g, u, n);
        assertArrayEquals(dg, dgOnly);
        float[] duOnly = new float[n];
        SwiGlu.backward(k, null, duOnly, dh, g, u, n);
        assertArrayEquals(du, duOnly);
        assertThrows(IllegalArgumentException.class, () -> SwiGlu.backward(k, dh, dh, dh, g, u, n));
    }

    @Test
    void extremeInputsStayFinite() {
        float[] g = {-1e30f, -89f, -20f, 0f, 20f, 89f, 1e30f, Float.MIN_VALUE};
        float[] u = filled(g.length, 1f), h = new float[g.length];
        SwiGlu.forward(new ReferenceKernels(), h, g, u, g.length);
        assertAllFinite("h", h);
        assertEquals(0f, Math.abs(h[0]));
        assertEquals(20f, h[4], 1e-5f);
        assertEquals(1e30f, h[6]);
        float[] dg = new float[g.length];
        SwiGlu.backward(new ReferenceKernels(), dg, null, u, g, u, g.length);
        assertEquals(0.5f, dg[3]);
        assertEquals(1f, dg[6]);
    }
}
