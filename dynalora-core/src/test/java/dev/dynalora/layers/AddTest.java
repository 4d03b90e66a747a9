package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;
import java.util.Random;

import static dev.dynalora.layers.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

class AddTest {

    static List<Kernels> kernels() {
        return TestSupport.kernels();
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void forwardBackwardAndAliasing(Kernels k) {
        Random rnd = new Random(80);
        for (int n : new int[]{7, 100_000}) { // serial and parallel paths
            float[] a = randn(rnd, n, 1), b = randn(rnd, n, 1);
            float[] out = filled(n, Float.NaN);
            Add.forward(k, out, a, b, n);
            for (int i = 0; i < n; i++) {
                assertEquals(a[i] + b[i], out[i]);
            }
            float[] alias = a.clone();
            Add.forward(k, alias, alias, b, n);
            assertArrayEquals(out, alias, "out aliasing a (residual in place)");

            float[] dout = randn(rnd, n, 1);
            float[] da0 = randn(rnd, n, 1), db0 = randn(rnd, n, 1);
            float[] da = da0.clone(), db = db0.clone();
            Add.backward(k, da, db, dout, n);
            assertArrayEquals(plus(da0, dout), da);
            assertArrayEquals(plus(db0, dout), db);
            float[] only = da0.clone();
            Add.backward(k, only, null, dout, n);
            assertArrayEquals(plus(da0, dout), only);
            assertDoesNotThrow(() -> Add.accumulate(k, null, dout, n));
        }
    }
}
