package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;
import java.util.Random;

import static dev.dynalora.layers.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

class SoftmaxTest {

    static List<Kernels> kernels() {
        return TestSupport.kernels();
    }

    static double[] ref(double[] x, int rows, int cols) {
        double[] y = new double[rows * cols];
        for (int r = 0; r < rows; r++) {
            double m = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < cols; c++) {
                m = Math.max(m, x[r * cols + c]);
            }
            double s = 0;
            for (int c = 0; c < cols; c++) {
                s += Math.exp(x[r * cols + c] - m);
            }
            for (int c = 0; c < cols; c++) {
                y[r * cols + c] = Math.exp(x[r * cols + c] - m) / s;
            }
        }
        return y;
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void forwardAndGradient(Kernels k) {
        Random rnd = new Random(20);
        int rows = 6, cols = 7;
        float[] x = randn(rnd, rows * cols, 3);
        x[0] = 80f; // would overflow exp without the max shift
        float[] y = new float[x.length];
        Softmax.forward(k, y, x, rows, cols);
        assertClose("softmax", ref(toDouble(x), rows, cols), y, 1e-7, 1e-5);

        float[] dout = randn(rnd, x.length, 1);
        float[] dx = new float[x.length];
        Softmax.backward(k, dx, y, dout, rows, cols);
        double[] fd = numericGrad(a -> ref(a[0], rows, cols), new double[][]{toDouble(x)}, 0, dout, 1e-6);
        assertClose("softmax dx", fd, dx, 1e-6, 1e-4);

        float[] g0 = randn(rnd, x.length, 1);
        float[] acc = g0.clone();
        Softmax.backward(k, acc, y, dout, rows, cols);
        assertClose("softmax dx +=", plus(g0, dx), acc, 1e-6, 1e-6);
        assertDoesNotThrow(() -> Softmax.backward(k, null, y, dout, rows, cols));

        float[] inPlace = x.clone();
        Softmax.forward(k, inPlace, inPlace, rows, cols);
        assertArrayEquals(y, inPlace);
    }

    @Test
    void maskedRows() {
        // All -inf: zeros, not NaN.
        float[] a = {Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY};
        Softmax.rowInPlace(a, 0, 3);
        assertArrayEquals(new float[]{0, 0, 0}, a);
        // Some -inf: exact zeros there, the rest normalised.
        float[] b = {1f, Float.NEGATIVE_INFINITY, 1f};
        Softmax.rowInPlace(b, 0, 3);
        assertArrayEquals(new float[]{0.5f, 0f, 0.5f}, b);
        // All a huge finite negative: uniform.
        float[] c = {-Float.MAX_VALUE, -Float.MAX_VALUE, -Float.MAX_VALUE, -Float.MAX_VALUE};
        Softmax.rowInPlace(c, 0, 4);
        assertArrayEquals(new float[]{0.25f, 0.25f, 0.25f, 0.25f}, c);
        // Offset and length respected; neighbours untouched.
        float[] d = {9f, 0f, 0f, 9f};
        Softmax.rowInPlace(d, 1, 2);
        assertArrayEquals(new float[]{9f, 0.5f, 0.5f, 9f}, d);
    }

    @Test
    void rowBackwardInPlace() {
        float[] y = {0.2f, 0.3f, 0.5f};
        float[] g = {1f, -2f, 0.5f};
        double dot = 0.2 * 1 + 0.3 * -2 + 0.5 * 0.5;
        Softmax.rowBackwardInPlace(y, 0, g, 0, 3);
        assertEquals(0.2 * (1 - dot), g[0], 1e-7);
        assertEquals(0.3 * (-2 - dot), g[1], 1e-7);
        assertEquals(0.5 * (0.5 - dot), g[2], 1e-7);
    }
}
