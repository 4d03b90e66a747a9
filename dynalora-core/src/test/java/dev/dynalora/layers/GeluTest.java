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

class GeluTest {

    static List<Kernels> kernels() {
        return TestSupport.kernels();
    }

    /** Inputs covering the bulk, both tails (where naive 1 + erf cancels), and exact specials. */
    private static final float[] X = inputs();
    /** High-precision gelu(X[i]), computed once for all backends. */
    private static final double[] GELU = new double[X.length];
    /** Central difference of the high-precision gelu at X[i]. */
    private static final double[] SLOPE = new double[X.length];

    static {
        for (int i = 0; i < X.length; i++) {
            double xi = X[i];
            GELU[i] = BigErf.gelu(xi);
            if (Math.abs(xi) > 11) {
                SLOPE[i] = xi > 0 ? 1.0 : 0.0; // to double precision, outside the reference's range
            } else {
                double h = 1e-6 * Math.max(1, Math.abs(xi));
                SLOPE[i] = (BigErf.gelu(xi + h) - BigErf.gelu(xi - h)) / (2 * h);
            }
        }
    }

    static float[] inputs() {
        Random r = new Random(6);
        float[] x = new float[400];
        for (int i = 0; i < 200; i++) {
            x[i] = -12f + 24f * i / 199f;
        }
        for (int i = 200; i < 380; i++) {
            x[i] = (float) (r.nextGaussian() * 2);
        }
        float[] special = {0f, -0f, 1e-20f, -1e-20f, 1e-5f, -1e-5f, 5.5f, -5.5f, -6.5f, -9f, 30f, -30f, 1e4f, -1e4f,
                Float.MIN_NORMAL, 0.5f, -0.5f, 3f, -3f, 1f};
        System.arraycopy(special, 0, x, 380, special.length);
        return x;
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void forwardIsCorrectlyRoundedAgainstHighPrecisionGelu(Kernels k) {
        float[] x = X.clone();
        float[] y = filled(x.length, Float.NaN);
        Gelu.forward(k, y, x, x.length);
        for (int i = 0; i < x.length; i++) {
            double ref = GELU[i];
            float refF = (float) ref;
            // Within one float ulp of the true value, in relative terms also deep in the negative tail
            // (gelu(-9) ~ -1e-18, gelu(-12) ~ -2e-32) where 0.5 x (1 + erf) in float would return 0.
            double tol = Math.ulp(Math.abs(refF)) + 1e-45;
            assertEquals(ref, y[i], tol, "gelu(" + x[i] + ")");
        }
        // Sanity on the formula itself: gelu(1) = Phi(1) = 0.8413447460685429.
        float[] one = {1f};
        float[] o = new float[1];
        Gelu.forward(k, o, one, 1);
        assertEquals(0.8413447460685429, o[0], 1e-7);
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void backwardMatchesFiniteDifferencesOfReference(Kernels k) {
        float[] x = X.clone();
        Random r = new Random(7);
        float[] dout = randn(r, x.length, 1);
        float[] dx = new float[x.length];
        Gelu.backward(k, dx, x, dout, x.length);
        double[] expect = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            expect[i] = SLOPE[i] * dout[i];
        }
        assertClose("gelu dx", expect, dx, 1e-8, 1e-6);
    }

    @Test
    void derivativeHasKnownValues() {
        // d/dx x Phi(x) at 0 is 0.5; at 1 it is Phi(1) + phi(1) = 0.8413447460685429 + 0.24197072451914337.
        assertEquals(0.5, Gelu.geluGrad(0), 1e-16);
        assertEquals(0.8413447460685429 + 0.24197072451914337, Gelu.geluGrad(1), 1e-15);
        assertEquals(1.0, Gelu.geluGrad(40), 0);
        assertEquals(0.0, Gelu.geluGrad(-40), 1e-300);
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void inPlaceAccumulationNullAndParallelPath(Kernels k) {
        Random r = new Random(8);
        int n = 50_000; // above the parallel threshold
        float[] x = randn(r, n, 3);
        float[] y = new float[n];
        Gelu.forward(new ReferenceKernels(), y, x, n);
        float[] y2 = new float[n];
        Gelu.forward(k, y2, x, n);
        assertArrayEquals(y, y2, "elementwise op must not depend on the thread split");
        float[] inPlace = x.clone();
        Gelu.forward(k, inPlace, inPlace, n);
        assertArrayEquals(y, inPlace, "in place");

        float[] dout = randn(r, n, 1);
        float[] dx = new float[n];
        Gelu.backward(k, dx, x, dout, n);
        float[] g0 = randn(r, n, 1);
        float[] acc = g0.clone();
        Gelu.backward(k, acc, x, dout, n);
        assertClose("accumulates", plus(g0, dx), acc, 1e-6, 1e-6);
        assertDoesNotThrow(() -> Gelu.backward(k, null, x, dout, n));
    }
}
