package dev.dynalora.adapters;

import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.tensor.Param;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/**
 * A masked adapter runs its products over the active components only (LoraAdapter.compact). Its forward and
 * backward must equal those of an adapter that simply holds the active components (same scaling), inactive
 * rows of dA and columns of dB must stay untouched, and turning components back on must use their kept values.
 */
class LoraCompactionTest {
    static final int IN = 40;
    static final int OUT = 24;
    static final int RANK = 6;
    static final int[] ACTIVE = {1, 2, 4};

    static void fill(float[] x, long seed, double scale) {
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        }
    }

    static TokenBatch batch() {
        int[] mask = new int[3 * 5];
        Arrays.fill(mask, 1);
        mask[14] = 0;
        mask[13] = 0;
        return new TokenBatch(3, 5, mask, true, 7, 1);
    }

    /** The masked adapter with components outside ACTIVE switched off, and a plain one holding ACTIVE only. */
    static LoraAdapter[] pair(boolean gated) {
        LoraAdapter masked = new LoraAdapter("m", IN, OUT, RANK, 12f, false, true, gated, 3);
        fill(masked.loraB().data(), 9, 0.5);
        float[] mask = masked.componentMask();
        Arrays.fill(mask, 0f);
        float[] a = new float[ACTIVE.length * IN];
        float[] b = new float[OUT * ACTIVE.length];
        for (int c = 0; c < ACTIVE.length; c++) {
            mask[ACTIVE[c]] = 1f;
            System.arraycopy(masked.loraA().data(), ACTIVE[c] * IN, a, c * IN, IN);
            for (int o = 0; o < OUT; o++) {
                b[o * ACTIVE.length + c] = masked.loraB().data()[o * RANK + ACTIVE[c]];
            }
        }
        LoraAdapter small = new LoraAdapter("m", IN, OUT, masked.scaling(), a, b, gated);
        if (gated) {
            fill(masked.gateWeight().data(), 11, 0.3);
            System.arraycopy(masked.gateWeight().data(), 0, small.gateWeight().data(), 0, IN);
            masked.gateBias().data()[0] = small.gateBias().data()[0] = 0.2f;
        }
        return new LoraAdapter[] {masked, small};
    }

    static void check(Kernels k, boolean gated) {
        LoraAdapter[] p = pair(gated);
        TokenBatch tb = batch();
        float[] x = new float[tb.rows() * IN];
        fill(x, 5, 1);
        float[] dy = new float[tb.rows() * OUT];
        fill(dy, 6, 1);
        float[][] y = new float[2][];
        float[][] dx = new float[2][];
        for (int i = 0; i < 2; i++) {
            y[i] = new float[tb.rows() * OUT];
            fill(y[i], 8, 1); // the adapter adds to y
            p[i].forward(k, x, y[i], tb);
            for (Param q : p[i].params()) {
                q.zeroGrad();
                Arrays.fill(q.grad(), 0.25f); // gradients accumulate: start from a non-zero value
            }
            dx[i] = new float[x.length];
            p[i].backward(k, x, dy, dx[i], tb);
        }
        assertArrayEquals(y[1], y[0]);
        assertArrayEquals(dx[1], dx[0]);
        float[] ga = p[0].loraA().grad();
        float[] gb = p[0].loraB().grad();
        for (int j = 0; j < RANK; j++) {
            int c = Arrays.binarySearch(ACTIVE, j);
            for (int i = 0; i < IN; i++) {
                float want = c >= 0 ? p[1].loraA().grad()[c * IN + i] : 0.25f;
                assertEquals(want, ga[j * IN + i], 0f, "dA[" + j + "," + i + "]");
            }
            for (int o = 0; o < OUT; o++) {
                float want = c >= 0 ? p[1].loraB().grad()[o * ACTIVE.length + c] : 0.25f;
                assertEquals(want, gb[o * RANK + j], 0f, "dB[" + o + "," + j + "]");
            }
        }
        if (gated) {
            assertArrayEquals(p[1].gateWeight().grad(), p[0].gateWeight().grad());
            assertArrayEquals(p[1].gateBias().grad(), p[0].gateBias().grad());
        }
    }

    @Test
    void compactProductsEqualAnAdapterHoldingOnlyTheActiveComponents() {
        check(new CpuKernels(1), false);
        check(new CpuKernels(2), true);
    }

    @Test
    void reactivatedComponentUsesItsKeptValues() {
        LoraAdapter[] p = pair(false);
        LoraAdapter masked = p[0];
        TokenBatch tb = batch();
        float[] x = new float[tb.rows() * IN];
        fill(x, 5, 1);
        Kernels k = new CpuKernels(1);
        float[] before = new float[tb.rows() * OUT];
        masked.forward(k, x, before, tb);
        Arrays.fill(masked.componentMask(), 1f); // all on: the plain LoRA path over every component
        float[] all = new float[tb.rows() * OUT];
        masked.forward(k, x, all, tb);
        assertNotEquals(Arrays.toString(before), Arrays.toString(all));
        LoraAdapter plain = new LoraAdapter("m", IN, OUT, masked.scaling(), masked.loraA().data(), masked.loraB().data(), false);
        float[] want = new float[tb.rows() * OUT];
        plain.forward(k, x, want, tb);
        assertArrayEquals(want, all);
    }

    @Test
    void noActiveComponentAddsNothing() {
        LoraAdapter masked = pair(true)[0];
        Arrays.fill(masked.componentMask(), 0f);
        TokenBatch tb = batch();
        float[] x = new float[tb.rows() * IN];
        fill(x, 5, 1);
        float[] y = new float[tb.rows() * OUT];
        fill(y, 8, 1);
        float[] y0 = y.clone();
        Kernels k = new CpuKernels(1);
        masked.forward(k, x, y, tb);
        assertArrayEquals(y0, y);
        for (Param q : masked.params()) {
            q.zeroGrad();
        }
        float[] dx = new float[x.length];
        masked.backward(k, x, y, dx, tb);
        for (Param q : masked.params()) {
            for (float g : q.grad()) {
                assertEquals(0f, g, 0f, q.name());
            }
        }
        for (float g : dx) {
            assertEquals(0f, g, 0f);
        }
    }
}
