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

class RopeTest {

    static List<Kernels> kernels() {
        return TestSupport.kernels();
    }

    /** Rotate-half RoPE in double from the float32 angles the layer uses (transformers' convention). */
    static double[] ref(double[] x, int[] pos, int rows, int heads, int hd, double theta) {
        int half = hd / 2;
        double[] y = new double[x.length];
        for (int r = 0; r < rows; r++) {
            for (int h = 0; h < heads; h++) {
                int b = r * heads * hd + h * hd;
                for (int i = 0; i < half; i++) {
                    float inv = 1f / (float) Math.pow(theta, (float) (2 * i) / hd);
                    double a = (float) pos[r] * inv;
                    double c = Math.cos(a), s = Math.sin(a);
                    y[b + i] = x[b + i] * c - x[b + half + i] * s;
                    y[b + half + i] = x[b + half + i] * c + x[b + i] * s;
                }
            }
        }
        return y;
    }

    static int[] positions(Random rnd, int rows, int max) {
        int[] p = new int[rows];
        for (int r = 0; r < rows; r++) {
            p[r] = rnd.nextInt(max);
        }
        return p;
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void forwardMatchesReferenceInAndOutOfPlace(Kernels k) {
        Random rnd = new Random(30);
        // head dims: 2 (half 1), 6 (odd half), 48 (stories15M: one vector plus a tail), 70 (several vectors + tail)
        for (int[] s : new int[][]{{5, 3, 2}, {7, 4, 6}, {9, 6, 48}, {3, 2, 70}, {40, 8, 64}}) {
            int rows = s[0], heads = s[1], hd = s[2];
            Rope rope = new Rope(hd, 300, 10000.0);
            int[] pos = positions(rnd, rows, 300);
            float[] x = randn(rnd, rows * heads * hd, 1);
            float[] y = filled(x.length, Float.NaN);
            rope.forward(k, y, x, pos, rows, heads);
            double[] expected = ref(toDouble(x), pos, rows, heads, hd, 10000.0);
            assertClose("rope " + hd, expected, y, 1e-6, 1e-6);
            float[] inPlace = x.clone();
            rope.forward(k, inPlace, inPlace, pos, rows, heads);
            assertArrayEquals(y, inPlace);
        }
    }

    @Test
    void positionZeroIsTheIdentityAndNormsArePreserved() {
        Kernels k = new ReferenceKernels();
        Random rnd = new Random(31);
        Rope rope = new Rope(10, 16, 500000.0);
        float[] x = randn(rnd, 3 * 10, 1);
        float[] y = new float[x.length];
        rope.forward(k, y, x, new int[3], 3, 1);
        assertArrayEquals(x, y);
        rope.forward(k, y, x, new int[] {1, 7, 15}, 3, 1);
        for (int r = 0; r < 3; r++) {
            for (int i = 0; i < 5; i++) {
                double n0 = Math.hypot(x[r * 10 + i], x[r * 10 + 5 + i]);
                double n1 = Math.hypot(y[r * 10 + i], y[r * 10 + 5 + i]);
                assertEquals(n0, n1, 1e-6 * (1 + n0));
            }
        }
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void backwardIsTheTransposeOfForward(Kernels k) {
        Random rnd = new Random(32);
        for (int[] s : new int[][]{{5, 3, 6}, {4, 2, 48}, {60, 6, 48}}) {
            int rows = s[0], heads = s[1], hd = s[2];
            Rope rope = new Rope(hd, 64, 10000.0);
            int[] pos = positions(rnd, rows, 64);
            float[] x = randn(rnd, rows * heads * hd, 1), dout = randn(rnd, x.length, 1);
            float[] dx = filled(x.length, Float.NaN);
            rope.backward(k, dx, dout, pos, rows, heads);
            if (x.length < 1000) {
                // L = sum dout * rope(x) is linear in x, so its gradient is exactly the finite difference.
                RefFn f = a -> ref(a[0], pos, rows, heads, hd, 10000.0);
                double[] num = numericGrad(f, new double[][]{toDouble(x)}, 0, dout, 1e-3);
                assertClose("drope " + hd, num, dx, 1e-5, 1e-5);
            } else {
                // Above the parallel threshold, the adjoint identity <dout, R x> = <R^T dout, x> instead
                // (finite differences would cost a full reference pass per element).
                float[] y = new float[x.length];
                rope.forward(k, y, x, pos, rows, heads);
                double lhs = 0, rhs = 0;
                for (int i = 0; i < x.length; i++) {
                    lhs += (double) dout[i] * y[i];
                    rhs += (double) dx[i] * x[i];
                }
                assertEquals(lhs, rhs, 1e-4 * (1 + Math.abs(lhs)));
            }
            // in place, and forward then backward gives the input back
            float[] d = dout.clone();
            rope.backward(k, d, d, pos, rows, heads);
            assertArrayEquals(dx, d);
            float[] y = new float[x.length];
            rope.forward(k, y, x, pos, rows, heads);
            rope.backward(k, y, y, pos, rows, heads);
            assertClose("inverse", x, y, 1e-6, 1e-5);
        }
    }

    @Test
    void splitIndependentAndChecksArguments() {
        Random rnd = new Random(33);
        int rows = 77, heads = 6, hd = 48;
        Rope rope = new Rope(hd, 128, 10000.0);
        int[] pos = positions(rnd, rows, 128);
        float[] x = randn(rnd, rows * heads * hd, 1);
        float[] a = new float[x.length], b = new float[x.length];
        rope.forward(new ReferenceKernels(), a, x, pos, rows, heads);
        rope.forward(new ThreadedTestKernels(3), b, x, pos, rows, heads);
        assertArrayEquals(a, b);
        Kernels k = new ReferenceKernels();
        assertThrows(IllegalArgumentException.class, () -> new Rope(7, 16, 10000.0));
        assertThrows(IllegalArgumentException.class, () -> new Rope(8, 16, 0.0));
        assertThrows(IllegalArgumentException.class, () -> rope.forward(k, a, x, new int[] {128}, 1, heads));
        assertThrows(IllegalArgumentException.class, () -> rope.forward(k, a, x, new int[] {-1}, 1, heads));
        assertThrows(IllegalArgumentException.class, () -> rope.forward(k, new float[10], x, pos, rows, heads));
    }
}
