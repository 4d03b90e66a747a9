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

class LinearTest {

    static List<Kernels> kernels() {
        return TestSupport.kernels();
    }

    // Deliberately not multiples of any vector width, and rows*out above the parallel threshold in one case.
    private static final int ROWS = 7, IN = 5, OUT = 6;

    /** y = x W^T + b in double, W [out, in]. */
    static double[] ref(double[][] in, int rows, int inDim, int outDim) {
        double[] x = in[0], w = in[1], b = in[2];
        double[] y = new double[rows * outDim];
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < outDim; o++) {
                double s = b == null ? 0 : b[o];
                for (int i = 0; i < inDim; i++) {
                    s += x[r * inDim + i] * w[o * inDim + i];
                }
                y[r * outDim + o] = s;
            }
        }
        return y;
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void forwardMatchesReference(Kernels k) {
        Random rnd = new Random(1);
        for (int[] s : new int[][]{{ROWS, IN, OUT}, {1, 1, 1}, {130, 33, 140}}) {
            int rows = s[0], in = s[1], out = s[2];
            float[] x = randn(rnd, rows * in, 1), w = randn(rnd, out * in, 0.5), b = randn(rnd, out, 1);
            double[] expect = ref(new double[][]{toDouble(x), toDouble(w), toDouble(b)}, rows, in, out);
            float[] y = filled(rows * out, Float.NaN); // overwrite semantics: stale NaN must not leak through
            Linear.forward(k, y, x, w, b, rows, in, out);
            assertClose("y with bias " + rows + "x" + in + "x" + out, expect, y, 1e-5, 1e-5);

            double[] noBias = ref(new double[][]{toDouble(x), toDouble(w), null}, rows, in, out);
            float[] y2 = filled(rows * out, Float.NaN);
            Linear.forward(k, y2, x, w, null, rows, in, out);
            assertClose("y without bias", noBias, y2, 1e-5, 1e-5);

            // accumulate: out += x W^T + b
            float[] base = randn(rnd, rows * out, 1);
            float[] y3 = base.clone();
            Linear.forward(k, y3, x, w, b, rows, in, out, true);
            double[] expect3 = expect.clone();
            for (int i = 0; i < expect3.length; i++) {
                expect3[i] += base[i];
            }
            assertClose("y accumulate", expect3, y3, 1e-5, 1e-5);
        }
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void gradientsMatchFiniteDifferences(Kernels k) {
        Random rnd = new Random(2);
        float[] x = randn(rnd, ROWS * IN, 1), w = randn(rnd, OUT * IN, 0.5), b = randn(rnd, OUT, 1);
        float[] dout = randn(rnd, ROWS * OUT, 1);
        float[] dx = new float[x.length], dw = new float[w.length], db = new float[b.length];
        Linear.backward(k, dx, dw, db, dout, x, w, ROWS, IN, OUT);

        double[][] in = {toDouble(x), toDouble(w), toDouble(b)};
        RefFn f = a -> ref(a, ROWS, IN, OUT);
        assertClose("dx", numericGrad(f, in, 0, dout, 1e-4), dx, 1e-5, 1e-4);
        assertClose("dw", numericGrad(f, in, 1, dout, 1e-4), dw, 1e-5, 1e-4);
        assertClose("db", numericGrad(f, in, 2, dout, 1e-4), db, 1e-5, 1e-4);
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void backwardAccumulatesAndSkipsNullGradients(Kernels k) {
        Random rnd = new Random(3);
        int rows = 70, in = 40, out = 300; // large enough for the parallel column-sum path
        float[] x = randn(rnd, rows * in, 1), w = randn(rnd, out * in, 0.5);
        float[] dout = randn(rnd, rows * out, 1);
        float[] dx = new float[x.length], dw = new float[w.length], db = new float[out];
        Linear.backward(k, dx, dw, db, dout, x, w, rows, in, out);

        // += semantics: starting from G0 gives G0 + grad.
        float[] g0x = randn(rnd, dx.length, 1), g0w = randn(rnd, dw.length, 1), g0b = randn(rnd, db.length, 1);
        float[] ax = g0x.clone(), aw = g0w.clone(), ab = g0b.clone();
        Linear.backward(k, ax, aw, ab, dout, x, w, rows, in, out);
        assertClose("dx accumulates", plus(g0x, dx), ax, 1e-5, 1e-5);
        assertClose("dw accumulates", plus(g0w, dw), aw, 1e-5, 1e-5);
        assertClose("db accumulates", plus(g0b, db), ab, 1e-5, 1e-5);

        // Frozen weight: dW and db null, and x null too (it is only needed for dW). dx must be unchanged.
        float[] dxOnly = new float[x.length];
        Linear.backward(k, dxOnly, null, null, dout, null, w, rows, in, out);
        assertArrayEquals(dx, dxOnly, "dx must not depend on whether dW is computed");

        // No input gradient (first layer): w may be null, dW/db still right.
        float[] dwOnly = new float[w.length], dbOnly = new float[out];
        Linear.backward(k, null, dwOnly, dbOnly, dout, x, null, rows, in, out);
        assertArrayEquals(dw, dwOnly);
        assertArrayEquals(db, dbOnly);
    }

    @Test
    void columnSumIsIdenticalForAnyThreadCount() {
        Random rnd = new Random(4);
        int rows = 300, out = 77;
        float[] dout = randn(rnd, rows * out, 1);
        float[] a = new float[out], b = new float[out];
        Linear.columnSums(new ReferenceKernels(), a, dout, rows, out);
        Linear.columnSums(new ThreadedTestKernels(4), b, dout, rows, out);
        assertArrayEquals(a, b);
        double[] expect = new double[out];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < out; c++) {
                expect[c] += dout[r * out + c];
            }
        }
        assertClose("column sums", expect, a, 1e-4, 1e-5);
    }

    @Test
    void rejectsShortBuffers() {
        Kernels k = new ReferenceKernels();
        assertThrows(IllegalArgumentException.class,
                () -> Linear.forward(k, new float[5], new float[6], new float[6], null, 2, 3, 3));
        assertThrows(IllegalArgumentException.class,
                () -> Linear.backward(k, new float[6], null, null, new float[6], null, null, 2, 3, 3));
    }
}
