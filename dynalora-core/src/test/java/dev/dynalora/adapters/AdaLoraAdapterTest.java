package dev.dynalora.adapters;

import dev.dynalora.kernels.Kernels;
import dev.dynalora.kernels.ReferenceKernels;
import dev.dynalora.tensor.Param;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The AdaLoRA adapter alone: PEFT's initialisation and scaling, exact gradients, merge. The output is
 * linear in each of A, E, B and x separately, so a central difference of L = sum(R * y) is exact up to
 * float rounding and the tolerance can be tight.
 */
class AdaLoraAdapterTest {
    static final Kernels K = new ReferenceKernels();

    static void fill(float[] x, SplittableRandom r, double scale) {
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        }
    }

    @Test
    void initialisationAndScalingAreThoseOfPeft() {
        AdaLoraAdapter a = new AdaLoraAdapter("m", 64, 48, 12, 32f, 7);
        assertArrayEquals(new int[] {12, 64}, a.loraA().value().shape());
        assertArrayEquals(new int[] {12, 1}, a.loraE().value().shape());
        assertArrayEquals(new int[] {48, 12}, a.loraB().value().shape());
        assertEquals("m.lora_E", a.loraE().name());
        assertTrue(Arrays.stream(toDouble(a.loraE().data())).allMatch(x -> x == 0), "E starts at zero");
        for (float[] w : new float[][] {a.loraA().data(), a.loraB().data()}) {
            double mean = Arrays.stream(toDouble(w)).average().orElseThrow();
            double std = Math.sqrt(Arrays.stream(toDouble(w)).map(x -> (x - mean) * (x - mean)).sum() / w.length);
            assertEquals(0.0, mean, 0.003);
            assertEquals(0.02, std, 0.002);
        }
        // scaling = lora_alpha, divided by ranknum + 1e-5 with ranknum the initial rank; r when alpha <= 0.
        assertEquals(32f, a.scaling());
        assertEquals(32f / (12f + 1e-5f), a.factor());
        assertEquals(12f, new AdaLoraAdapter("m", 4, 4, 12, 0f, 1).scaling());
        // With E = 0 the adapter adds nothing.
        TokenBatch tb = new TokenBatch(2, 3, new int[] {1, 1, 1, 1, 1, 0}, false, 0, 0);
        float[] x = new float[6 * 64];
        fill(x, new SplittableRandom(1), 1);
        float[] y = new float[6 * 48];
        Arrays.fill(y, 0.5f);
        a.forward(K, x, y, tb);
        for (float v : y) {
            assertEquals(0.5f, v);
        }
    }

    static double[] toDouble(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            d[i] = x[i];
        }
        return d;
    }

    static double loss(AdaLoraAdapter a, float[] x, float[] base, float[] r, TokenBatch tb) {
        float[] y = base.clone();
        a.forward(K, x, y, tb);
        double s = 0;
        for (int i = 0; i < y.length; i++) {
            s += (double) r[i] * y[i];
        }
        return s;
    }

    @Test
    void gradientsMatchFiniteDifferences() {
        int in = 7;
        int out = 5;
        int rank = 3;
        AdaLoraAdapter a = new AdaLoraAdapter("m", in, out, rank, 6f, 3);
        SplittableRandom rng = new SplittableRandom(4);
        fill(a.loraA().data(), rng, 0.5);
        fill(a.loraE().data(), rng, 0.5);
        fill(a.loraB().data(), rng, 0.5);
        TokenBatch tb = new TokenBatch(2, 2, new int[] {1, 1, 1, 0}, true, 0, 0);
        int rows = tb.rows();
        float[] x = new float[rows * in];
        float[] base = new float[rows * out];
        float[] r = new float[rows * out];
        fill(x, rng, 1);
        fill(base, rng, 1);
        fill(r, rng, 1);
        float[] dx = new float[rows * in];
        a.forward(K, x, base.clone(), tb);
        a.backward(K, x, r, dx, tb);
        StringBuilder fails = new StringBuilder();
        int checked = 0;
        for (Param p : a.params()) {
            float[] w = p.data();
            for (int i = 0; i < w.length; i++) {
                checked += check(p.name() + "[" + i + "]", w, i, p.grad()[i], () -> loss(a, x, base, r, tb), fails);
            }
        }
        for (int i = 0; i < x.length; i++) {
            checked += check("x[" + i + "]", x, i, dx[i], () -> loss(a, x, base, r, tb), fails);
        }
        assertEquals(rank * in + rank + out * rank + rows * in, checked);
        assertTrue(fails.length() == 0, fails.toString());
    }

    static int check(String what, float[] w, int i, float analytic, java.util.function.DoubleSupplier f, StringBuilder fails) {
        float orig = w[i];
        w[i] = orig + 0.05f;
        float up = w[i];
        double lp = f.getAsDouble();
        w[i] = orig - 0.05f;
        float down = w[i];
        double lm = f.getAsDouble();
        w[i] = orig;
        double num = (lp - lm) / ((double) up - down);
        if (Math.abs(num - analytic) > 1e-4 + 1e-4 * Math.abs(num)) {
            fails.append(what).append(" analytic ").append(analytic).append(" numeric ").append(num).append('\n');
        }
        return 1;
    }

    @Test
    void mergeAddsExactlyWhatTheForwardAdds() {
        int in = 6;
        int out = 4;
        AdaLoraAdapter a = new AdaLoraAdapter("m", in, out, 3, 12f, 5);
        SplittableRandom rng = new SplittableRandom(6);
        fill(a.loraE().data(), rng, 1);
        float[] x = new float[in];
        fill(x, rng, 1);
        float[] y = new float[out];
        a.forward(K, x, y, new TokenBatch(1, 1, new int[] {1}, false, 0, 0));
        float[] w = new float[out * in];
        a.mergeInto(w);
        for (int o = 0; o < out; o++) {
            double s = 0;
            for (int i = 0; i < in; i++) {
                s += (double) w[o * in + i] * x[i];
            }
            assertEquals(s, y[o], 1e-6);
        }
    }
}
