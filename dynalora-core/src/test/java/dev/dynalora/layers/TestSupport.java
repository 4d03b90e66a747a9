package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;
import dev.dynalora.kernels.ReferenceKernels;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Shared helpers for the layer tests: random data, double-precision finite differences, tolerant compares. */
final class TestSupport {

    private TestSupport() {
    }

    /**
     * The backends every op is tested on: the reference, the threaded test backend (real threads, so
     * races and split-dependent results show), and the fast CpuKernels when it exists. CpuKernels is
     * looked up reflectively because it is written in parallel with these tests; once it compiles it is
     * picked up without a change here.
     */
    static List<Kernels> kernels() {
        List<Kernels> list = new ArrayList<>();
        list.add(new ReferenceKernels());
        list.add(new ThreadedTestKernels(3));
        Kernels cpu = cpuKernels(2);
        if (cpu != null) {
            list.add(cpu);
        }
        return list;
    }

    static Kernels cpuKernels(int threads) {
        try {
            Class<?> c = Class.forName("dev.dynalora.kernels.CpuKernels");
            return (Kernels) c.getConstructor(int.class).newInstance(threads);
        } catch (ClassNotFoundException e) {
            return null;
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("CpuKernels exists but cannot be constructed with (int)", e);
        }
    }

    static float[] randn(Random r, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextGaussian() * scale);
        }
        return a;
    }

    static float[] filled(int n, float v) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, v);
        return a;
    }

    static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return d;
    }

    static float[] plus(float[] a, float[] b) {
        float[] c = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            c[i] = a[i] + b[i];
        }
        return c;
    }

    /** A double-precision reference forward: inputs (as doubles) to output values. */
    @FunctionalInterface
    interface RefFn {
        double[] apply(double[][] inputs);
    }

    /**
     * Central-difference gradient of L = sum_i w[i] * f(inputs)[i] with respect to inputs[which], all in
     * double, so its error (O(h^2) truncation plus ~1e-16/h rounding) is far below float resolution.
     */
    static double[] numericGrad(RefFn f, double[][] inputs, int which, float[] w, double h) {
        double[] x = inputs[which];
        double[] g = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double orig = x[i];
            x[i] = orig + h;
            double lp = dot(f.apply(inputs), w);
            x[i] = orig - h;
            double lm = dot(f.apply(inputs), w);
            x[i] = orig;
            g[i] = (lp - lm) / (2 * h);
        }
        return g;
    }

    static double dot(double[] a, float[] w) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * w[i];
        }
        return s;
    }

    /**
     * Asserts |actual - expected| <= atol + rtol * |expected| elementwise, reporting the worst element,
     * and that no value is NaN.
     */
    static void assertClose(String what, double[] expected, float[] actual, double atol, double rtol) {
        assertTrue(actual.length >= expected.length, what + ": length " + actual.length + " < " + expected.length);
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < expected.length; i++) {
            if (Float.isNaN(actual[i]) || Double.isNaN(expected[i])) {
                fail(what + ": NaN at " + i + " (expected " + expected[i] + ", actual " + actual[i] + ")");
            }
            double err = Math.abs(actual[i] - expected[i]);
            double excess = err - (atol + rtol * Math.abs(expected[i]));
            if (excess > worstExcess) {
                worstExcess = excess;
                worst = i;
            }
        }
        if (worst >= 0) {
            fail(what + ": element " + worst + " expected " + expected[worst] + " but was " + actual[worst]
                    + " (atol " + atol + ", rtol " + rtol + ")");
        }
    }

    static void assertClose(String what, float[] expected, float[] actual, double atol, double rtol) {
        assertClose(what, toDouble(expected), actual, atol, rtol);
    }

    static void assertAllFinite(String what, float[] a) {
        for (int i = 0; i < a.length; i++) {
            assertTrue(Float.isFinite(a[i]), what + "[" + i + "] = " + a[i]);
        }
    }
}
