package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;
import dev.dynalora.kernels.ReferenceKernels;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;
import java.util.Random;

import static dev.dynalora.layers.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

class RmsNormTest {

    static List<Kernels> kernels() {
        return TestSupport.kernels();
    }

    private static final float EPS = 1e-5f;

    /** Double RMSNorm; inputs x and w (w null = 1). */
    static double[] ref(double[][] in, int rows, int dim, double eps) {
        double[] x = in[0], w = in[1];
        double[] y = new double[rows * dim];
        for (int r = 0; r < rows; r++) {
            double ss = 0;
            for (int c = 0; c < dim; c++) {
                ss += x[r * dim + c] * x[r * dim + c];
            }
            double rs = 1 / Math.sqrt(ss / dim + eps);
            for (int c = 0; c < dim; c++) {
                y[r * dim + c] = x[r * dim + c] * rs * (w == null ? 1 : w[c]);
            }
        }
        return y;
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void forwardMatchesReferenceAndSavesRstd(Kernels k) {
        Random rnd = new Random(20);
        // odd widths below, at and above a vector, with tails; one shape above the parallel threshold
        for (int[] s : new int[][]{{5, 9}, {3, 37}, {7, 16}, {60, 288}, {1, 1}}) {
            int rows = s[0], dim = s[1];
            float[] x = randn(rnd, rows * dim, 2), w = randn(rnd, dim, 1);
            float[] y = filled(rows * dim, Float.NaN), rstd = filled(rows, Float.NaN);
            RmsNorm.forward(k, y, rstd, x, w, rows, dim, EPS);
            assertClose("y " + rows + "x" + dim, ref(new double[][]{toDouble(x), toDouble(w)}, rows, dim, EPS), y, 1e-5, 1e-5);
            for (int r = 0; r < rows; r++) {
                double ss = 0;
                for (int c = 0; c < dim; c++) {
                    ss += (double) x[r * dim + c] * x[r * dim + c];
                }
                double expected = 1 / Math.sqrt(ss / dim + EPS);
                assertEquals(expected, rstd[r], 1e-6 * expected, "rstd row " + r);
            }
            // no gain, no saved rstd, in place
            float[] inPlace = x.clone();
            RmsNorm.forward(k, inPlace, null, inPlace, null, rows, dim, EPS);
            assertClose("y in place, no gain", ref(new double[][]{toDouble(x), null}, rows, dim, EPS), inPlace, 1e-5, 1e-5);
        }
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void gradientsMatchFiniteDifferences(Kernels k) {
        Random rnd = new Random(21);
        for (int[] s : new int[][]{{5, 9}, {3, 37}}) {
            int rows = s[0], dim = s[1];
            float[] x = randn(rnd, rows * dim, 1.5), w = randn(rnd, dim, 1), dout = randn(rnd, rows * dim, 1);
            float[] y = new float[x.length], rstd = new float[rows];
            RmsNorm.forward(k, y, rstd, x, w, rows, dim, EPS);
            float[] dx = new float[x.length], dw = new float[dim];
            RmsNorm.backward(k, dx, dw, dout, x, w, rstd, rows, dim, false);

            double[][] in = {toDouble(x), toDouble(w)};
            RefFn f = a -> ref(a, rows, dim, EPS);
            assertClose("dx " + dim, numericGrad(f, in, 0, dout, 1e-5), dx, 1e-4, 1e-3);
            assertClose("dw " + dim, numericGrad(f, in, 1, dout, 1e-5), dw, 1e-5, 1e-4);
        }
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void backwardAccumulatesOverwritesSkipsNullsAndIsSplitIndependent(Kernels k) {
        Random rnd = new Random(22);
        int rows = 61, dim = 299; // above the parallel threshold, with a vector tail
        float[] x = randn(rnd, rows * dim, 1), w = randn(rnd, dim, 1), dout = randn(rnd, rows * dim, 1);
        float[] y = new float[x.length], rstd = new float[rows];
        RmsNorm.forward(k, y, rstd, x, w, rows, dim, EPS);
        float[] dx = new float[x.length], dw = new float[dim];
        RmsNorm.backward(k, dx, dw, dout, x, w, rstd, rows, dim, false);

        // The row/column splits must not change a single bit relative to one thread.
        Kernels ref = new ReferenceKernels();
        float[] yR = new float[x.length], rstdR = new float[rows], dxR = new float[x.length], dwR = new float[dim];
        RmsNorm.forward(ref, yR, rstdR, x, w, rows, dim, EPS);
        RmsNorm.backward(ref, dxR, dwR, dout, x, w, rstdR, rows, dim, false);
        assertArrayEquals(yR, y);
        assertArrayEquals(rstdR, rstd);
        assertArrayEquals(dxR, dx);
        assertArrayEquals(dwR, dw);

        float[] g0x = randn(rnd, dx.length, 1), g0w = randn(rnd, dim, 1);
        float[] ax = g0x.clone(), aw = g0w.clone();
        RmsNorm.backward(k, ax, aw, dout, x, w, rstd, rows, dim, false);
        assertClose("dx +=", plus(g0x, dx), ax, 1e-5, 1e-5);
        assertClose("dw +=", plus(g0w, dw), aw, 1e-4, 1e-5);

        // Overwrite ignores what was there (even NaN) and gives the same dx.
        float[] ow = filled(dx.length, Float.NaN);
        RmsNorm.backward(k, ow, null, dout, x, w, rstd, rows, dim, true);
        assertClose("dx overwritten", dx, ow, 1e-6, 1e-6);

        // Frozen gain: only dx; only the gain gradient; neither.
        float[] dxOnly = new float[x.length];
        RmsNorm.backward(k, dxOnly, null, dout, x, w, rstd, rows, dim, false);
        assertArrayEquals(dx, dxOnly);
        float[] dwOnly = new float[dim];
        RmsNorm.backward(k, null, dwOnly, dout, x, w, rstd, rows, dim, false);
        assertArrayEquals(dw, dwOnly);
        assertDoesNotThrow(() -> RmsNorm.backward(k, null, null, null, null, null, null, rows, dim, false));
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void zeroRowStaysFiniteAndShortBuffersAreRejected(Kernels k) {
        float[] x = new float[7], y = filled(7, Float.NaN), rstd = new float[1];
        RmsNorm.forward(k, y, rstd, x, null, 1, 7, EPS);
        assertArrayEquals(new float[7], y);
        assertEquals((float) (1 / Math.sqrt(EPS)), rstd[0], 1e-2);
        assertThrows(IllegalArgumentException.class, () -> RmsNorm.forward(k, new float[6], null, x, null, 1, 7, EPS));
        assertThrows(IllegalArgumentException.class, () -> RmsNorm.forward(k, y, null, x, new float[6], 1, 7, EPS));
    }
}
