package dev.dynalora.layers;

import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.kernels.ReferenceKernels;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static dev.dynalora.layers.TestSupport.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * Attention over a KV cache against the full causal attention of {@link Attention}: a prompt prefilled in one
 * segment and then extended token by token must give, row for row, what causal attention over the whole
 * sequence gives; several sequences of different lengths in one call must not see each other.
 */
class CachedAttentionTest {

    /** Causal grouped-query attention of one whole sequence with {@link Attention}: ctx [len, heads * hd]. */
    static float[] full(Kernels k, float[] q, float[] kk, float[] v, int len, int heads, int kvHeads, int hd) {
        float[] ctx = new float[len * heads * hd];
        Attention.forward(k, ctx, null, q, kk, v, null, 1, len, heads, kvHeads, hd, true);
        return ctx;
    }

    @Test
    void prefillThenDecodeMatchesFullCausalAttention() {
        Random r = new Random(7);
        int heads = 4;
        int kvHeads = 2;
        int hd = 8;
        int len = 70; // more than one query block of the prefill (64 rows)
        int prompt = 67;
        int hDim = heads * hd;
        int kvDim = kvHeads * hd;
        float[] q = randn(r, len * hDim, 1);
        float[] k = randn(r, len * kvDim, 1);
        float[] v = randn(r, len * kvDim, 1);
        for (Kernels kern : new Kernels[] {new ReferenceKernels(), new CpuKernels(1), new CpuKernels(2)}) {
            float[] expected = full(kern, q, k, v, len, heads, kvHeads, hd);
            float[] got = new float[len * hDim];
            // Prefill: one segment of `prompt` rows at positions 0..prompt-1.
            CachedAttention.forward(kern, got, q, new float[][] {k}, new float[][] {v}, new int[] {0},
                    new int[] {prompt}, new int[] {0}, 1, heads, kvHeads, hd);
            // Decode: one row at a time; q row p at row p, the cache already holding positions 0..p.
            for (int p = prompt; p < len; p++) {
                float[] ctxRow = new float[hDim];
                float[] qRow = Arrays.copyOfRange(q, p * hDim, (p + 1) * hDim);
                CachedAttention.forward(kern, ctxRow, qRow, new float[][] {Arrays.copyOf(k, (p + 1) * kvDim)},
                        new float[][] {Arrays.copyOf(v, (p + 1) * kvDim)}, new int[] {0}, new int[] {1},
                        new int[] {p}, 1, heads, kvHeads, hd);
                System.arraycopy(ctxRow, 0, got, p * hDim, hDim);
            }
            for (int i = 0; i < expected.length; i++) {
                assertEquals(expected[i], got[i], 2e-5, kern + " element " + i);
            }
            if (kern instanceof CpuKernels c) {
                c.close();
            }
        }
    }

    @Test
    void segmentsOfDifferentLengthsAreIndependent() {
        Random r = new Random(11);
        int heads = 3;
        int hd = 4;
        int hDim = heads * hd;
        int[] lens = {9, 1, 5};
        float[][] qs = new float[3][];
        float[][] ks = new float[3][];
        float[][] vs = new float[3][];
        for (int s = 0; s < 3; s++) {
            qs[s] = randn(r, lens[s] * hDim, 1);
            ks[s] = randn(r, lens[s] * hDim, 1);
            vs[s] = randn(r, lens[s] * hDim, 1);
        }
        // One step: sequence 0 decodes its last token, sequence 1 prefills its single token, sequence 2
        // prefills its last 2 tokens on top of 3 cached ones.
        int[] count = {1, 1, 2};
        int[] start = {8, 0, 3};
        int[] first = {0, 1, 2};
        float[] q = new float[4 * hDim];
        for (int s = 0; s < 3; s++) {
            System.arraycopy(qs[s], start[s] * hDim, q, first[s] * hDim, count[s] * hDim);
        }
        try (CpuKernels kern = new CpuKernels(2)) {
            float[] ctx = new float[4 * hDim];
            CachedAttention.forward(kern, ctx, q, ks, vs, first, count, start, 3, heads, heads, hd);
            for (int s = 0; s < 3; s++) {
                float[] expected = full(kern, qs[s], ks[s], vs[s], lens[s], heads, heads, hd);
                float[] want = Arrays.copyOfRange(expected, start[s] * hDim, (start[s] + count[s]) * hDim);
                float[] got = Arrays.copyOfRange(ctx, first[s] * hDim, (first[s] + count[s]) * hDim);
                for (int i = 0; i < want.length; i++) {
                    assertEquals(want[i], got[i], 2e-5, "segment " + s + " element " + i);
                }
            }
            // The same step on one thread gives the same bits.
            try (CpuKernels one = new CpuKernels(1)) {
                float[] ctx1 = new float[4 * hDim];
                CachedAttention.forward(one, ctx1, q, ks, vs, first, count, start, 3, heads, heads, hd);
                assertArrayEquals(ctx1, ctx);
            }
        }
    }
}
