package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;
import dev.dynalora.kernels.ReferenceKernels;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;
import java.util.Random;

import static dev.dynalora.layers.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

class LayerNormTest {

    static List<Kernels> kernels() {
        return TestSupport.kernels();
    }

    private static final int ROWS = 5, DIM = 9;
    private static final float EPS = 1e-5f;

    /** Double LayerNorm; inputs x, gamma, beta (gamma/beta null = 1/0). */
    static double[] ref(double[][] in, int rows, int dim, double eps) {
        double[] x = in[0], g = in[1], b = in[2];
        double[] y = new double[rows * dim];
        for (int r = 0; r < rows; r++) {
            double m = 0;
            for (int c = 0; c < dim; c++) {
                m += x[r * dim + c];
            }
            m /= dim;
            double v = 0;
            for (int c = 0; c < dim; c++) {
                v += (x[r * dim + c] - m) * (x[r * dim + c] - m);
            }
            v /= dim;
            double rs = 1 / Math.sqrt(v + eps);
            for (int c = 0; c < dim; c++) {
                y[r * dim + c] = (x[r * dim + c] - m) * rs * (g == null ? 1 : g[c]) + (b == null ? 0 : b[c]);
            }
        }
        return y;
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void forwardMatchesReferenceAndSavesStats(Kernels k) {
        Random rnd = new Random(10);
        for (int[] s : new int[][]{{ROWS, DIM}, {40, 768}, {1, 1}}) {
            int rows = s[0], dim = s[1];
            float[] x = randn(rnd, rows * dim, 2);
            // a large common offset must not destroy the variance (two-pass statistics)
            for (int i = 0; i < dim; i++) {
                x[i] += 1000f;
            }
            float[] g = randn(rnd, dim, 1), b = randn(rnd, dim, 1);
            float[] y = filled(rows * dim, Float.NaN), mean = new float[rows], rstd = new float[rows];
            LayerNorm.forward(k, y, mean, rstd, x, g, b, rows, dim, EPS);
            assertClose("y " + rows + "x" + dim, ref(new double[][]{toDouble(x), toDouble(g), toDouble(b)}, rows, dim, EPS),
                    y, 1e-5, 1e-4);
            for (int r = 0; r < rows; r++) {
                double m = 0, v = 0;
                for (int c = 0; c < dim; c++) {
                    m += x[r * dim + c];
                }
                m /= dim;
                for (int c = 0; c < dim; c++) {
                    v += (x[r * dim + c] - m) * (x[r * dim + c] - m);
                }
                assertEquals(m, mean[r], Math.abs(m) * 1e-6 + 1e-6, "mean row " + r);
                assertEquals(1 / Math.sqrt(v / dim + EPS), rstd[r], 1e-5 / Math.sqrt(v / dim + EPS), "rstd row " + r);
            }
            // no gamma/beta, no saved stats, in place
            float[] inPlace = x.clone();
            LayerNorm.forward(k, inPlace, null, null, inPlace, null, null, rows, dim, EPS);
            assertClose("y in place, no affine", ref(new double[][]{toDouble(x), null, null}, rows, dim, EPS), inPlace, 1e-5, 1e-4);
        }
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void gradientsMatchFiniteDifferences(Kernels k) {
        Random rnd = new Random(11);
        float[] x = randn(rnd, ROWS * DIM, 1.5), g = randn(rnd, DIM, 1), b = randn(rnd, DIM, 1);
        float[] dout = randn(rnd, ROWS * DIM, 1);
        float[] y = new float[x.length], mean = new float[ROWS], rstd = new float[ROWS];
        LayerNorm.forward(k, y, mean, rstd, x, g, b, ROWS, DIM, EPS);
        float[] dx = new float[x.length], dg = new float[DIM], db = new float[DIM];
        LayerNorm.backward(k, dx, dg, db, dout, x, g, mean, rstd, ROWS, DIM);

        double[][] in = {toDouble(x), toDouble(g), toDouble(b)};
        RefFn f = a -> ref(a, ROWS, DIM, EPS);
        assertClose("dx", numericGrad(f, in, 0, dout, 1e-5), dx, 1e-4, 1e-3);
        assertClose("dgamma", numericGrad(f, in, 1, dout, 1e-5), dg, 1e-5, 1e-4);
        assertClose("dbeta", numericGrad(f, in, 2, dout, 1e-5), db, 1e-5, 1e-4);
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void backwardAccumulatesSkipsNullsAndIsSplitIndependent(Kernels k) {
        Random rnd = new Random(12);
        int rows = 50, dim = 384; // above the parallel threshold
        float[] x = randn(rnd, rows * dim, 1), g = randn(rnd, dim, 1), b = randn(rnd, dim, 1);
        float[] dout = randn(rnd, rows * dim, 1);
        float[] y = new float[x.length], mean = new float[rows], rstd = new float[rows];
        LayerNorm.forward(k, y, mean, rstd, x, g, b, rows, dim, EPS);

        float[] dx = new float[x.length], dg = new float[dim], db = new float[dim];
        LayerNorm.backward(k, dx, dg, db, dout, x, g, mean, rstd, rows, dim);
        // The row/column splits must not change a single bit relative to one thread.
        float[] dxR = new float[x.length], dgR = new float[dim], dbR = new float[dim];
        float[] meanR = new float[rows], rstdR = new float[rows], yR = new float[x.length];
        Kernels ref = new ReferenceKernels();
        LayerNorm.forward(ref, yR, meanR, rstdR, x, g, b, rows, dim, EPS);
        LayerNorm.backward(ref, dxR, dgR, dbR, dout, x, g, meanR, rstdR, rows, dim);
        assertArrayEquals(yR, y);
        assertArrayEquals(dxR, dx);
        assertArrayEquals(dgR, dg);
        assertArrayEquals(dbR, db);

        float[] g0x = randn(rnd, dx.length, 1), g0g = randn(rnd, dim, 1), g0b = randn(rnd, dim, 1);
        float[] ax = g0x.clone(), ag = g0g.clone(), ab = g0b.clone();
        LayerNorm.backward(k, ax, ag, ab, dout, x, g, mean, rstd, rows, dim);
        assertClose("dx +=", plus(g0x, dx), ax, 1e-5, 1e-5);
        assertClose("dgamma +=", plus(g0g, dg), ag, 1e-4, 1e-5);
        assertClose("dbeta +=", plus(g0b, db), ab, 1e-4, 1e-5);

        // Frozen LayerNorm (e.g. LoRA-only training): only dx.
        float[] dxOnly = new float[x.length];
        LayerNorm.backward(k, dxOnly, null, null, dout, x, g, mean, rstd, rows, dim);
        assertArrayEquals(dx, dxOnly);
        // Only the parameter gradients.
        float[] dgOnly = new float[dim], dbOnly = new float[dim];
        LayerNorm.backward(k, null, dgOnly, dbOnly, dout, x, g, mean, rstd, rows, dim);
        assertArrayEquals(dg, dgOnly);
        assertArrayEquals(db, dbOnly);
        assertDoesNotThrow(() -> LayerNorm.backward(k, null, null, null, dout, x, g, mean, rstd, rows, dim));
    }
}
