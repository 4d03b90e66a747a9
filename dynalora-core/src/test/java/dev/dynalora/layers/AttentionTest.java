package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;
import dev.dynalora.kernels.ReferenceKernels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static dev.dynalora.layers.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

class AttentionTest {

    static final float PAD = -1e30f;

    /** One attention configuration; lengths[b] real tokens per example, the rest padding (null: no mask). */
    record Cfg(String name, int batch, int seqLen, int nHeads, int nKvHeads, int headDim, boolean causal, int[] lengths) {
        int hDim() {
            return nHeads * headDim;
        }

        int kvDim() {
            return nKvHeads * headDim;
        }

        int tokens() {
            return batch * seqLen;
        }

        float[] mask() {
            if (lengths == null) {
                return null;
            }
            float[] m = new float[tokens()];
            for (int b = 0; b < batch; b++) {
                for (int t = lengths[b]; t < seqLen; t++) {
                    m[b * seqLen + t] = PAD;
                }
            }
            return m;
        }

        @Override
        public String toString() {
            return name;
        }
    }

    static List<Cfg> configs() {
        List<Cfg> c = new ArrayList<>();
        c.add(new Cfg("mha", 2, 5, 2, 2, 3, false, null));
        c.add(new Cfg("mha padded", 3, 5, 2, 2, 3, false, new int[]{5, 3, 1}));
        c.add(new Cfg("causal", 2, 5, 2, 2, 3, true, null));
        c.add(new Cfg("causal padded", 2, 6, 2, 2, 2, true, new int[]{4, 6}));
        c.add(new Cfg("gqa padded", 2, 4, 4, 2, 3, false, new int[]{4, 2}));
        c.add(new Cfg("mqa causal", 2, 4, 3, 1, 2, true, null));
        return c;
    }

    /** Every backend crossed with every configuration. */
    static List<Object[]> cases() {
        List<Object[]> out = new ArrayList<>();
        for (Kernels k : TestSupport.kernels()) {
            for (Cfg c : configs()) {
                out.add(new Object[]{k, c});
            }
        }
        return out;
    }

    /** Double reference; returns ctx, or probs when wantProbs. Inputs: q, k, v. */
    static double[] ref(double[][] in, Cfg c, float[] mask, boolean wantProbs) {
        double[] q = in[0], k = in[1], v = in[2];
        int T = c.seqLen(), hd = c.headDim(), H = c.hDim(), KV = c.kvDim(), group = c.nHeads() / c.nKvHeads();
        double[] ctx = new double[c.tokens() * H];
        double[] probs = new double[c.batch() * c.nHeads() * T * T];
        double scale = 1 / Math.sqrt(hd);
        for (int b = 0; b < c.batch(); b++) {
            for (int h = 0; h < c.nHeads(); h++) {
                int kvh = h / group;
                for (int i = 0; i < T; i++) {
                    double[] s = new double[T];
                    double max = Double.NEGATIVE_INFINITY;
                    int len = c.causal() ? i + 1 : T;
                    for (int j = 0; j < len; j++) {
                        double dot = 0;
                        for (int d = 0; d < hd; d++) {
                            dot += q[(b * T + i) * H + h * hd + d] * k[(b * T + j) * KV + kvh * hd + d];
                        }
                        s[j] = dot * scale + (mask == null ? 0 : mask[b * T + j]);
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < len; j++) {
                        sum += Math.exp(s[j] - max);
                    }
                    for (int j = 0; j < len; j++) {
                        double p = Math.exp(s[j] - max) / sum;
                        probs[((b * c.nHeads() + h) * T + i) * T + j] = p;
                        for (int d = 0; d < hd; d++) {
                            ctx[(b * T + i) * H + h * hd + d] += p * v[(b * T + j) * KV + kvh * hd + d];
                        }
                    }
                }
            }
        }
        return wantProbs ? probs : ctx;
    }

    record Data(float[] q, float[] k, float[] v, float[] mask, float[] dctx) {
    }

    static Data data(Cfg c, long seed) {
        Random r = new Random(seed);
        return new Data(randn(r, c.tokens() * c.hDim(), 1), randn(r, c.tokens() * c.kvDim(), 1),
                randn(r, c.tokens() * c.kvDim(), 1), c.mask(), randn(r, c.tokens() * c.hDim(), 1));
    }

    static float[] probsBuffer(Cfg c) {
        return filled(c.batch() * c.nHeads() * c.seqLen() * c.seqLen(), Float.NaN);
    }

    static void forward(Kernels k, Cfg c, Data d, float[] ctx, float[] probs) {
        Attention.forward(k, ctx, probs, d.q(), d.k(), d.v(), d.mask(), c.batch(), c.seqLen(), c.nHeads(),
                c.nKvHeads(), c.headDim(), c.causal());
    }

    static void backward(Kernels k, Cfg c, Data d, float[] probs, float[] dq, float[] dk, float[] dv, float[] scratch) {
        Attention.backward(k, dq, dk, dv, scratch, d.dctx(), probs, d.q(), d.k(), d.v(), c.batch(), c.seqLen(),
                c.nHeads(), c.nKvHeads(), c.headDim());
    }

    @ParameterizedTest(name = "{1} on {0}")
    @MethodSource("cases")
    void forwardMatchesReference(Kernels k, Cfg c) {
        Data d = data(c, 30);
        float[] ctx = filled(c.tokens() * c.hDim(), Float.NaN), probs = probsBuffer(c);
        forward(k, c, d, ctx, probs);
        double[][] in = {toDouble(d.q()), toDouble(d.k()), toDouble(d.v())};
        assertClose("ctx", ref(in, c, d.mask(), false), ctx, 1e-6, 1e-5);
        double[] refProbs = ref(in, c, d.mask(), true);
        assertClose("probs", refProbs, probs, 1e-7, 1e-5);
        int T = c.seqLen();
        for (int row = 0; row < c.batch() * c.nHeads() * T; row++) {
            int b = row / (c.nHeads() * T), i = row % T;
            double sum = 0;
            for (int j = 0; j < T; j++) {
                float p = probs[row * T + j];
                sum += p;
                boolean padded = c.lengths() != null && j >= c.lengths()[b];
                if ((c.causal() && j > i) || padded) {
                    assertEquals(0f, p, "masked probability at row " + row + " key " + j);
                }
            }
            assertEquals(1.0, sum, 1e-5, "row " + row + " sums to 1");
        }
    }

    @ParameterizedTest(name = "{1} on {0}")
    @MethodSource("cases")
    void gradientsMatchFiniteDifferences(Kernels k, Cfg c) {
        Data d = data(c, 31);
        float[] ctx = new float[c.tokens() * c.hDim()], probs = probsBuffer(c);
        forward(k, c, d, ctx, probs);
        float[] dq = new float[d.q().length], dk = new float[d.k().length], dv = new float[d.v().length];
        backward(k, c, d, probs, dq, dk, dv, filled(c.batch() * c.nKvHeads() * c.seqLen() * c.seqLen(), Float.NaN));

        double[][] in = {toDouble(d.q()), toDouble(d.k()), toDouble(d.v())};
        RefFn f = a -> ref(a, c, d.mask(), false);
        assertClose("dq", numericGrad(f, in, 0, d.dctx(), 1e-5), dq, 1e-5, 1e-4);
        assertClose("dk", numericGrad(f, in, 1, d.dctx(), 1e-5), dk, 1e-5, 1e-4);
        assertClose("dv", numericGrad(f, in, 2, d.dctx(), 1e-5), dv, 1e-5, 1e-4);
    }

    @ParameterizedTest(name = "{1} on {0}")
    @MethodSource("cases")
    void backwardAccumulatesAndSkipsNullGradients(Kernels k, Cfg c) {
        Data d = data(c, 32);
        float[] ctx = new float[c.tokens() * c.hDim()], probs = probsBuffer(c);
        forward(k, c, d, ctx, probs);
        float[] dq = new float[d.q().length], dk = new float[d.k().length], dv = new float[d.v().length];
        backward(k, c, d, probs, dq, dk, dv, null); // null scratch: allocated internally

        Random r = new Random(33);
        float[] q0 = randn(r, dq.length, 1), k0 = randn(r, dk.length, 1), v0 = randn(r, dv.length, 1);
        float[] aq = q0.clone(), ak = k0.clone(), av = v0.clone();
        backward(k, c, d, probs, aq, ak, av, null);
        assertClose("dq +=", plus(q0, dq), aq, 1e-6, 1e-5);
        assertClose("dk +=", plus(k0, dk), ak, 1e-6, 1e-5);
        assertClose("dv +=", plus(v0, dv), av, 1e-6, 1e-5);

        float[] onlyQ = new float[dq.length];
        backward(k, c, d, probs, onlyQ, null, null, null);
        assertArrayEquals(dq, onlyQ, "dq alone");
        float[] onlyK = new float[dk.length];
        backward(k, c, d, probs, null, onlyK, null, null);
        assertArrayEquals(dk, onlyK, "dk alone");
        // dv alone needs neither q, k, v nor scratch
        float[] onlyV = new float[dv.length];
        Attention.backward(k, null, null, onlyV, null, d.dctx(), probs, null, null, null, c.batch(), c.seqLen(),
                c.nHeads(), c.nKvHeads(), c.headDim());
        assertArrayEquals(dv, onlyV, "dv alone");
        assertDoesNotThrow(() -> backward(k, c, d, probs, null, null, null, null));
    }

    /** Race-freedom and split-independence: a 3-thread run equals the single-threaded reference bit for bit. */
    @Test
    void threadedRunIsBitIdenticalToSingleThread() {
        for (Cfg c : configs()) {
            Data d = data(c, 34);
            float[][] res = new float[2][];
            int idx = 0;
            for (Kernels k : new Kernels[]{new ReferenceKernels(), new ThreadedTestKernels(3)}) {
                float[] ctx = new float[c.tokens() * c.hDim()], probs = probsBuffer(c);
                forward(k, c, d, ctx, probs);
                float[] dq = new float[d.q().length], dk = new float[d.k().length], dv = new float[d.v().length];
                backward(k, c, d, probs, dq, dk, dv, null);
                res[idx++] = concat(ctx, probs, dq, dk, dv);
            }
            assertArrayEquals(res[0], res[1], c.name());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dynalora.layers.TestSupport#kernels")
    void fullyMaskedExampleGivesNoNaN(Kernels k) {
        int B = 2, T = 4, nh = 2, hd = 3, H = nh * hd;
        for (float pad : new float[]{-1e30f, -Float.MAX_VALUE, Float.NEGATIVE_INFINITY}) {
            Random r = new Random(35);
            float[] q = randn(r, B * T * H, 1), kk = randn(r, B * T * H, 1), v = randn(r, B * T * H, 1);
            float[] mask = new float[B * T];
            for (int t = 0; t < T; t++) {
                mask[T + t] = pad; // example 1 entirely padding
            }
            mask[T - 1] = pad; // example 0 has one padded key
            float[] ctx = new float[B * T * H], probs = new float[B * nh * T * T];
            Attention.forward(k, ctx, probs, q, kk, v, mask, B, T, nh, hd, false);
            assertAllFinite("ctx (pad " + pad + ")", ctx);
            assertAllFinite("probs (pad " + pad + ")", probs);
            for (int i = 0; i < T; i++) {
                for (int c = 0; c < H; c++) {
                    float got = ctx[(T + i) * H + c];
                    if (pad == Float.NEGATIVE_INFINITY) {
                        assertEquals(0f, got, "-inf masking: fully masked row is zero");
                    } else {
                        double mean = 0;
                        for (int j = 0; j < T; j++) {
                            mean += v[(T + j) * H + c];
                        }
                        assertEquals(mean / T, got, 1e-6, "finite masking: fully masked row is uniform (as HF)");
                    }
                }
            }
            float[] dctx = randn(r, B * T * H, 1);
            float[] dq = new float[q.length], dk = new float[kk.length], dv = new float[v.length];
            Attention.backward(k, dq, dk, dv, null, dctx, probs, q, kk, v, B, T, nh, hd);
            assertAllFinite("dq", dq);
            assertAllFinite("dk", dk);
            assertAllFinite("dv", dv);
            // the partly padded example still gets no gradient into its padded key
            for (int c = 0; c < H; c++) {
                assertEquals(0f, dk[(T - 1) * H + c], "padded key gets no dk");
                assertEquals(0f, dv[(T - 1) * H + c], "padded key gets no dv");
            }
        }
    }

    @Test
    void rejectsBadShapes() {
        Kernels k = new ReferenceKernels();
        float[] a = new float[64];
        assertThrows(IllegalArgumentException.class,
                () -> Attention.forward(k, a, a, a, a, a, null, 1, 2, 3, 2, 2, false)); // 3 heads, 2 kv heads
        assertThrows(IllegalArgumentException.class,
                () -> Attention.forward(k, a, new float[3], a, a, a, null, 1, 2, 2, 2, 2, false)); // probs short
    }

    static float[] concat(float[]... parts) {
        int n = 0;
        for (float[] p : parts) {
            n += p.length;
        }
        float[] out = new float[n];
        int o = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, o, p.length);
            o += p.length;
        }
        return out;
    }
}
