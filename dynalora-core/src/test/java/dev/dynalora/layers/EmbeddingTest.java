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

class EmbeddingTest {

    static List<Kernels> kernels() {
        return TestSupport.kernels();
    }

    static double[] ref(double[] table, int[] ids, int rows, int dim) {
        double[] out = new double[rows * dim];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(table, ids[r] * dim, out, r * dim, dim);
        }
        return out;
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void lookupAndScatterAddGradient(Kernels k) {
        Random rnd = new Random(40);
        int vocab = 6, dim = 5, rows = 9;
        int[] ids = {0, 3, 3, 5, 1, 3, 0, 2, 5}; // repeats: the gradient must sum over them
        float[] table = randn(rnd, vocab * dim, 1);
        float[] out = filled(rows * dim, Float.NaN);
        Embedding.forward(k, out, ids, table, rows, dim);
        assertClose("lookup", ref(toDouble(table), ids, rows, dim), out, 0, 0);

        float[] dout = randn(rnd, rows * dim, 1);
        float[] dTable = new float[table.length];
        Embedding.backward(k, dTable, dout, ids, rows, dim);
        double[] fd = numericGrad(a -> ref(a[0], ids, rows, dim), new double[][]{toDouble(table)}, 0, dout, 1e-3);
        assertClose("dTable", fd, dTable, 1e-6, 1e-5);
        // Row 4 (id 4) never appears: exactly zero.
        for (int c = 0; c < dim; c++) {
            assertEquals(0f, dTable[4 * dim + c]);
        }

        float[] g0 = randn(rnd, table.length, 1);
        float[] acc = g0.clone();
        Embedding.backward(k, acc, dout, ids, rows, dim);
        assertClose("dTable +=", plus(g0, dTable), acc, 1e-6, 1e-6);
        assertDoesNotThrow(() -> Embedding.backward(k, null, dout, ids, rows, dim), "frozen table");
    }

    @Test
    void largeScatterIsIdenticalForAnyThreadCount() {
        Random rnd = new Random(41);
        int vocab = 50, dim = 96, rows = 400; // many collisions, above the parallel threshold
        int[] ids = new int[rows];
        for (int r = 0; r < rows; r++) {
            ids[r] = rnd.nextInt(vocab);
        }
        float[] dout = randn(rnd, rows * dim, 1);
        float[] a = new float[vocab * dim], b = new float[vocab * dim];
        Embedding.backward(new ReferenceKernels(), a, dout, ids, rows, dim);
        Embedding.backward(new ThreadedTestKernels(4), b, dout, ids, rows, dim);
        assertArrayEquals(a, b);
        float[] t = randn(rnd, vocab * dim, 1);
        float[] o1 = new float[rows * dim], o2 = new float[rows * dim];
        Embedding.forward(new ReferenceKernels(), o1, ids, t, rows, dim);
        Embedding.forward(new ThreadedTestKernels(4), o2, ids, t, rows, dim);
        assertArrayEquals(o1, o2);
    }

    @Test
    void rejectsOutOfRangeIds() {
        Kernels k = new ReferenceKernels();
        float[] table = new float[4 * 2];
        float[] out = new float[4];
        assertThrows(IllegalArgumentException.class, () -> Embedding.forward(k, out, new int[]{0, 4}, table, 2, 2));
        assertThrows(IllegalArgumentException.class, () -> Embedding.forward(k, out, new int[]{-1, 0}, table, 2, 2));
        assertThrows(IllegalArgumentException.class,
                () -> Embedding.backward(k, new float[8], new float[4], new int[]{0, 9}, 2, 2));
    }
}
