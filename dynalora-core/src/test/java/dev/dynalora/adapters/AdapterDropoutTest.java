package dev.dynalora.adapters;

import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.kernels.ReferenceKernels;
import dev.dynalora.layers.Dropout;
import dev.dynalora.tensor.Param;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * lora_dropout on the adapter input: PEFT's y = W x + b + s B A drop(x) with inverted scaling while training,
 * nothing in evaluation, the p = 0 path exactly the arithmetic of plain LoRA, masks independent per site and
 * step and the same for any thread count. Gradients with dropout on are checked in BertGradientCheckTest and
 * AdaLoraGradientCheckTest.
 */
class AdapterDropoutTest {
    static final Kernels K = new ReferenceKernels();
    static final int IN = 12;
    static final int OUT = 10;
    static final int RANK = 3;

    static void fill(float[] x, SplittableRandom r, double scale) {
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        }
    }

    static TokenBatch batch(int examples, int seqLen, boolean training, long seed, long step) {
        int[] mask = new int[examples * seqLen];
        Arrays.fill(mask, 1);
        mask[mask.length - 1] = 0; // one padding token: the gate must skip it
        return new TokenBatch(examples, seqLen, mask, training, seed, step);
    }

    static LoraAdapter lora(AdapterDropout d, boolean gated) {
        LoraAdapter a = new LoraAdapter("m", IN, OUT, RANK, 6f, false, false, gated, 5, d);
        fill(a.loraB().data(), new SplittableRandom(2), 0.5);
        if (gated) {
            fill(a.gateWeight().data(), new SplittableRandom(3), 0.5);
        }
        return a;
    }

    static float[] input(int rows) {
        float[] x = new float[rows * IN];
        fill(x, new SplittableRandom(4), 1);
        return x;
    }

    /** Output, then after backward of dy: dA, dB, dx, in that order. */
    static List<float[]> run(Kernels k, LinearAdapter a, float[] x, TokenBatch tb) {
        int rows = tb.rows();
        float[] y = new float[rows * OUT];
        a.forward(k, x, y, tb);
        float[] dy = new float[rows * OUT];
        fill(dy, new SplittableRandom(6), 1);
        for (Param p : a.params()) {
            p.zeroGrad();
        }
        float[] dx = new float[x.length];
        a.backward(k, x, dy, dx, tb);
        List<float[]> r = new ArrayList<>(List.of(y));
        for (Param p : a.params()) {
            r.add(p.grad().clone());
        }
        r.add(dx);
        return r;
    }

    static void assertSame(List<float[]> expected, List<float[]> actual) {
        assertEquals(expected.size(), actual.size());
        for (int i = 0; i < expected.size(); i++) {
            assertArrayEquals(expected.get(i), actual.get(i), "array " + i);
        }
    }

    static boolean differ(List<float[]> a, List<float[]> b) {
        return !Arrays.equals(a.get(0), b.get(0));
    }

    @Test
    void zeroDropoutIsTheArithmeticOfPlainLora() {
        TokenBatch tb = batch(2, 4, true, 42, 3);
        float[] x = input(tb.rows());
        LoraAdapter plain = lora(AdapterDropout.NONE, false);
        List<float[]> got = run(K, plain, x, tb);
        // The same through an explicit p = 0 dropout object, in training.
        assertSame(got, run(K, lora(new AdapterDropout(0f, 7, null), false), x, tb));

        // What the adapter computed before dropout existed, kernel call for kernel call.
        int rows = tb.rows();
        float s = plain.scaling();
        float[] a = plain.loraA().data();
        float[] b = plain.loraB().data();
        float[] u = new float[rows * RANK];
        K.sgemm(false, true, rows, RANK, IN, 1f, x, 0, IN, a, 0, IN, 0f, u, 0, RANK);
        float[] us = new float[rows * RANK];
        for (int i = 0; i < us.length; i++) {
            us[i] = s * u[i];
        }
        float[] y = new float[rows * OUT];
        K.sgemm(false, true, rows, OUT, RANK, 1f, us, 0, RANK, b, 0, RANK, 1f, y, 0, OUT);
        assertArrayEquals(y, got.get(0));
        float[] dy = new float[rows * OUT];
        fill(dy, new SplittableRandom(6), 1);
        float[] du = new float[rows * RANK];
        K.sgemm(false, false, rows, RANK, OUT, 1f, dy, 0, OUT, b, 0, RANK, 0f, du, 0, RANK);
        for (int i = 0; i < du.length; i++) {
            du[i] *= s;
        }
        float[] dA = new float[RANK * IN];
        K.sgemm(true, false, RANK, IN, rows, 1f, du, 0, RANK, x, 0, IN, 1f, dA, 0, IN);
        float[] dx = new float[rows * IN];
        K.sgemm(false, false, rows, IN, RANK, 1f, du, 0, RANK, a, 0, IN, 1f, dx, 0, IN);
        float[] dB = new float[OUT * RANK];
        K.sgemm(true, false, OUT, RANK, rows, 1f, dy, 0, OUT, us, 0, RANK, 1f, dB, 0, RANK);
        assertArrayEquals(dA, got.get(1));
        assertArrayEquals(dB, got.get(2));
        assertArrayEquals(dx, got.get(3));
    }

    @Test
    void evaluationHasNoDropout() {
        float[] x = input(8);
        for (boolean gated : new boolean[] {false, true}) {
            List<float[]> none = run(K, lora(AdapterDropout.NONE, gated), x, batch(2, 4, false, 42, 3));
            LoraAdapter dropped = lora(new AdapterDropout(0.5f, 0, null), gated);
            assertSame(none, run(K, dropped, x, batch(2, 4, false, 42, 3)));
            // ... while training with the same adapter does drop.
            assertTrue(differ(none, run(K, dropped, x, batch(2, 4, true, 42, 3))), "training must drop");
        }
        TokenBatch eval = batch(2, 4, false, 42, 3);
        AdaLoraAdapter plain = adaLora(AdapterDropout.NONE);
        AdaLoraAdapter dropped = adaLora(new AdapterDropout(0.5f, 0, null));
        assertSame(run(K, plain, x, eval), run(K, dropped, x, eval));
        assertTrue(differ(run(K, plain, x, eval), run(K, dropped, x, batch(2, 4, true, 42, 3))));
    }

    static AdaLoraAdapter adaLora(AdapterDropout d) {
        AdaLoraAdapter a = new AdaLoraAdapter("m", IN, OUT, RANK, 6f, 5, d);
        fill(a.loraE().data(), new SplittableRandom(8), 1);
        return a;
    }

    /**
     * Training output against PEFT's formula written out in double: y = s B A (x * keep / (1 - p)), with keep the
     * mask Dropout defines for this site and step. The dropped share is close to p.
     */
    @Test
    void trainingComputesPeftsFormulaWithTheSitesMask() {
        float p = 0.3f;
        int site = 5;
        TokenBatch tb = batch(4, 6, true, 42, 9);
        int rows = tb.rows();
        float[] x = input(rows);
        LoraAdapter ad = lora(new AdapterDropout(p, site, null), false);
        float[] y = new float[rows * OUT];
        ad.forward(K, x, y, tb);
        float[] a = ad.loraA().data();
        float[] b = ad.loraB().data();
        int dropped = 0;
        double[] xd = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            boolean kept = Dropout.isKept(42 ^ AdapterDropout.SEED_SALT, 9 * AdapterDropout.SITES + site, i, p);
            xd[i] = kept ? x[i] / (1.0 - p) : 0;
            dropped += kept ? 0 : 1;
        }
        assertEquals(p, dropped / (double) x.length, 0.08);
        for (int i = 0; i < rows; i++) {
            for (int o = 0; o < OUT; o++) {
                double v = 0;
                for (int j = 0; j < RANK; j++) {
                    double ax = 0;
                    for (int c = 0; c < IN; c++) {
                        ax += a[j * IN + c] * xd[i * IN + c];
                    }
                    v += b[o * RANK + j] * ax;
                }
                assertEquals(ad.scaling() * v, y[i * OUT + o], 1e-5, "row " + i + " out " + o);
            }
        }
    }

    /** The gate summarises the example from x itself: its values do not change when dropout is on. */
    @Test
    void theGateReadsTheUndroppedInput() {
        float[] x = input(8);
        LoraAdapter plain = lora(AdapterDropout.NONE, true);
        LoraAdapter dropped = lora(new AdapterDropout(0.5f, 0, null), true);
        run(K, plain, x, batch(2, 4, true, 42, 3));
        run(K, dropped, x, batch(2, 4, true, 42, 3));
        assertEquals(2, dropped.lastGateCount());
        assertArrayEquals(Arrays.copyOf(plain.lastGates(), 2), Arrays.copyOf(dropped.lastGates(), 2));
    }

    @Test
    void masksDifferBetweenSitesAndSteps() {
        float[] x = input(8);
        List<float[]> base = run(K, lora(new AdapterDropout(0.5f, 0, null), false), x, batch(2, 4, true, 42, 3));
        assertSame(base, run(K, lora(new AdapterDropout(0.5f, 0, null), false), x, batch(2, 4, true, 42, 3)));
        assertTrue(differ(base, run(K, lora(new AdapterDropout(0.5f, 1, null), false), x, batch(2, 4, true, 42, 3))), "site");
        assertTrue(differ(base, run(K, lora(new AdapterDropout(0.5f, 0, null), false), x, batch(2, 4, true, 42, 4))), "step");
        assertTrue(differ(base, run(K, lora(new AdapterDropout(0.5f, 0, null), false), x, batch(2, 4, true, 43, 3))), "seed");
    }

    /**
     * Same seed, same results on 1 and 3 threads: forward and every gradient bit for bit, LoRA and AdaLoRA. The
     * input has more than 2^14 elements, so Dropout really splits its work across the threads.
     */
    @Test
    void sameSeedGivesTheSameResultsOnAnyThreadCount() {
        int in = 256;
        TokenBatch tb = batch(4, 32, true, 42, 7);
        float[] x = new float[tb.rows() * in];
        fill(x, new SplittableRandom(9), 1);
        assertTrue(x.length > 1 << 14);
        List<List<float[]>> results = new ArrayList<>();
        for (int threads : new int[] {1, 3}) {
            try (CpuKernels k = new CpuKernels(threads)) {
                AdapterDropout.Scratch shared = new AdapterDropout.Scratch();
                LoraAdapter lora = new LoraAdapter("q", in, 16, 4, 8f, false, true, true, 5, new AdapterDropout(0.1f, 0, shared));
                fill(lora.loraB().data(), new SplittableRandom(2), 0.5);
                AdaLoraAdapter ada = new AdaLoraAdapter("v", in, 16, 4, 8f, 5, new AdapterDropout(0.1f, 1, shared));
                fill(ada.loraE().data(), new SplittableRandom(8), 1);
                List<float[]> r = new ArrayList<>(runWide(k, lora, x, tb, 16));
                r.addAll(runWide(k, ada, x, tb, 16));
                results.add(r);
            }
        }
        assertSame(results.get(0), results.get(1));
    }

    static List<float[]> runWide(Kernels k, LinearAdapter a, float[] x, TokenBatch tb, int out) {
        float[] y = new float[tb.rows() * out];
        a.forward(k, x, y, tb);
        float[] dy = new float[y.length];
        fill(dy, new SplittableRandom(6), 1);
        for (Param p : a.params()) {
            p.zeroGrad();
        }
        float[] dx = new float[x.length];
        a.backward(k, x, dy, dx, tb);
        List<float[]> r = new ArrayList<>(List.of(y, dx));
        for (Param p : a.params()) {
            r.add(p.grad().clone());
        }
        return r;
    }

    @Test
    void badSettingsAreRefused() {
        for (float p : new float[] {-0.1f, 1f, Float.NaN}) {
            assertThrows(IllegalArgumentException.class, () -> new AdapterDropout(p, 0, null));
        }
        assertThrows(IllegalArgumentException.class,
                () -> new AdapterDropout(0.1f, (int) AdapterDropout.SITES, null));
        assertFalse(AdapterDropout.NONE.active(batch(1, 2, true, 0, 0)));
    }
}
