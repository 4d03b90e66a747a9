package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static dev.dynalora.layers.TestSupport.assertClose;
import static dev.dynalora.layers.TestSupport.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The first-token attention is the full attention's first query rows: forward against {@link Attention}'s
 * output at positions 0, backward against {@link Attention#backward} given a gradient that is non-zero only
 * there (so {@link Attention}'s gradient check covers this op too). Padding keys and a fully padded example
 * included; odd sizes so vector tails run.
 */
class FirstTokenAttentionTest {

    @Test
    void agreesWithFullAttentionAtTheFirstTokens() {
        int batch = 3;
        int seq = 7;
        int heads = 3;
        int hd = 5;
        int h = heads * hd;
        int rows = batch * seq;
        Random r = new Random(42);
        float[] q = randn(r, rows * h, 1.0);
        float[] k = randn(r, rows * h, 1.0);
        float[] v = randn(r, rows * h, 1.0);
        float[] mask = new float[rows];
        mask[seq - 1] = -1e30f;          // example 0: last key padded
        mask[2 * seq - 2] = -1e30f;      // example 1: two keys padded
        mask[2 * seq - 1] = -1e30f;
        for (int j = 2 * seq; j < 3 * seq; j++) {
            mask[j] = -1e30f;            // example 2: all padding (uniform, as in Attention)
        }
        float[] dFirst = randn(r, batch * h, 1.0);
        for (Kernels kern : TestSupport.kernels()) {
            float[] ctxFull = new float[rows * h];
            float[] probsFull = new float[batch * heads * seq * seq];
            Attention.forward(kern, ctxFull, probsFull, q, k, v, mask, batch, seq, heads, hd, false);
            float[] ctx = new float[batch * h];
            float[] probs = new float[batch * heads * seq];
            FirstTokenAttention.forward(kern, ctx, probs, q, k, v, mask, batch, seq, heads, hd);
            float[] expected = new float[batch * h];
            float[] dctxFull = new float[rows * h];
            for (int e = 0; e < batch; e++) {
                System.arraycopy(ctxFull, e * seq * h, expected, e * h, h);
                System.arraycopy(dFirst, e * h, dctxFull, e * seq * h, h);
            }
            assertClose("ctx", expected, ctx, 1e-6, 1e-5);
            // Without probs (inference) the same numbers.
            float[] ctxNoProbs = new float[batch * h];
            FirstTokenAttention.forward(kern, ctxNoProbs, null, q, k, v, mask, batch, seq, heads, hd);
            assertClose("ctx without probs", ctx, ctxNoProbs, 0, 0);

            float[] dqFull = new float[rows * h];
            float[] dkFull = new float[rows * h];
            float[] dvFull = new float[rows * h];
            Attention.backward(kern, dqFull, dkFull, dvFull, null, dctxFull, probsFull, q, k, v, batch, seq, heads, hd);
            float[] dq = new float[rows * h];
            float[] dk = new float[rows * h];
            float[] dv = new float[rows * h];
            java.util.Arrays.fill(dk, Float.NaN); // written, not accumulated
            java.util.Arrays.fill(dv, Float.NaN);
            FirstTokenAttention.backward(kern, dq, dk, dv, dFirst, probs, q, k, v, batch, seq, heads, hd);
            assertClose("dq", dqFull, dq, 1e-6, 1e-4);
            assertClose("dk", dkFull, dk, 1e-6, 1e-4);
            assertClose("dv", dvFull, dv, 1e-6, 1e-4);
            // Padded keys get no gradient.
            for (int j = 0; j < hd; j++) {
                assertEquals(0f, dk[(seq - 1) * h + j]);
            }
        }
    }
}
