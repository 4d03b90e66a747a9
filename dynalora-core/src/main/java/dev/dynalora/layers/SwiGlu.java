package dev.dynalora.layers;

import static dev.dynalora.layers.ExpfConstants.E0;
import static dev.dynalora.layers.ExpfConstants.E1;
import static dev.dynalora.layers.ExpfConstants.E2;
import static dev.dynalora.layers.ExpfConstants.E3;
import static dev.dynalora.layers.ExpfConstants.E4;
import static dev.dynalora.layers.ExpfConstants.E5;
import static dev.dynalora.layers.ExpfConstants.LN2_HI;
import static dev.dynalora.layers.ExpfConstants.LN2_LO;
import static dev.dynalora.layers.ExpfConstants.LOG2E;
import static dev.dynalora.layers.ExpfConstants.ROUND;

import dev.dynalora.kernels.Kernels;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The gated activation of Llama's MLP: h = silu(gate) * up, elementwise, with silu(g) = g * sigmoid(g).
 * (The gate_proj / up_proj / down_proj projections around it are the model's linear modules.)
 *
 * <p>Backward: dUp = dh * silu(g), dGate = dh * up * silu'(g), silu'(g) = s (1 + g (1 - s)), s = sigmoid(g).
 * Nothing is saved beyond the caller's gate and up: backward recomputes the sigmoid, which is cheaper than
 * streaming a third intermediate-sized buffer through memory.
 *
 * <p>The sigmoid is evaluated without overflow for any input: e = exp(-|g|) is in (0, 1], and
 * s = (g &lt; 0 ? e : 1) / (1 + e). exp is the Cephes expf that {@link Softmax} uses (about 1 ulp; below
 * -88 it is exactly 0). As in {@link Gelu}, each block of elements goes through small stages with one
 * vector loop each (C2 on JDK 17 compiles those without boxing), and elements outside whole vectors go
 * through scalar twins with the same float operations in the same order, so every element gets the same
 * result for any thread split.
 */
public final class SwiGlu {

    private SwiGlu() {
    }

    /** Below this many elements, handing work to other threads costs more than it saves. */
    private static final int MIN_PARALLEL = 1 << 13;
    /** Block length: a multiple of every vector length, small enough for the scratch to stay in L1. */
    private static final int BLOCK = 512;

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    /** h[i] = silu(gate[i]) * up[i] for i in [0, n). h may be the same array as gate or up. */
    public static void forward(Kernels k, float[] h, float[] gate, float[] up, int n) {
        Checks.nonNegative(n, "n");
        Checks.len(h, n, "h");
        Checks.len(gate, n, "gate");
        Checks.len(up, n, "up");
        run(k, n, (from, to) -> {
            float[] e = new float[BLOCK];
            for (int b = from; b < to; b += BLOCK) {
                int m = Math.min(BLOCK, to - b);
                expBlock(gate, b, m, e);
                combineForward(h, gate, up, b, m, e);
            }
        });
    }

    /**
     * Writes (not accumulates) dGate = dh * up * silu'(gate) and dUp = dh * silu(gate). Either output may
     * be null (skipped); one of them, not both, may be the same array as dh (each element reads dh before
     * writing), which spares the model a buffer.
     */
    public static void backward(Kernels k, float[] dGate, float[] dUp, float[] dh, float[] gate, float[] up, int n) {
        Checks.nonNegative(n, "n");
        Checks.lenOrNull(dGate, n, "dGate");
        Checks.lenOrNull(dUp, n, "dUp");
        if (dGate == null && dUp == null) {
            return;
        }
        if (dGate == dh && dUp == dh) {
            throw new IllegalArgumentException("dGate and dUp cannot both be dh");
        }
        Checks.len(dh, n, "dh");
        Checks.len(gate, n, "gate");
        Checks.len(up, n, "up");
        run(k, n, (from, to) -> {
            float[] e = new float[BLOCK];
            for (int b = from; b < to; b += BLOCK) {
                int m = Math.min(BLOCK, to - b);
                expBlock(gate, b, m, e);
                combineBackward(dGate, dUp, dh, gate, up, b, m, e);
            }
        });
    }

    /** silu(g) in double: the reference for the tests. */
    static double silu(double g) {
        return g / (1 + Math.exp(-g));
    }

    /** e[j] = exp(-|g[off + j]|). */
    private static void expBlock(float[] g, int off, int n, float[] e) {
        int j = 0;
        for (int end = S.loopBound(n); j < end; j += L) {
            // Spelled out, not called: a vector crossing a call C2 does not inline is boxed (see Gelu).
            FloatVector xc = FloatVector.fromArray(S, g, off + j).abs().neg().max(V_EXP_MIN);
            FloatVector k = xc.fma(V_LOG2E, V_ROUND);
            FloatVector kf = k.sub(V_ROUND);
            FloatVector r = kf.fma(V_M_LN2_LO, kf.fma(V_M_LN2_HI, xc));
            FloatVector y = r.fma(V_E0, V_E1).fma(r, V_E2).fma(r, V_E3).fma(r, V_E4).fma(r, V_E5)
                    .fma(r.mul(r), r).add(V_ONE);
            y.mul(k.reinterpretAsInts().lanewise(VectorOperators.LSHL, 23).add(127 << 23).reinterpretAsFloats())
                    .intoArray(e, j);
        }
        for (; j < n; j++) {
            e[j] = Softmax.exp(-Math.abs(g[off + j]));
        }
    }

    /** h = g * s * up, s = (g < 0 ? e : 1) / (1 + e). */
    private static void combineForward(float[] h, float[] g, float[] up, int off, int n, float[] e) {
        int j = 0;
        for (int end = S.loopBound(n); j < end; j += L) {
            FloatVector gv = FloatVector.fromArray(S, g, off + j);
            FloatVector ev = FloatVector.fromArray(S, e, j);
            FloatVector s = V_ONE.blend(ev, gv.compare(VectorOperators.LT, V_ZERO)).div(ev.add(V_ONE));
            gv.mul(s).mul(FloatVector.fromArray(S, up, off + j)).intoArray(h, off + j);
        }
        for (; j < n; j++) {
            float gi = g[off + j];
            float s = (gi < 0f ? e[j] : 1f) / (e[j] + 1f);
            h[off + j] = gi * s * up[off + j];
        }
    }

    /** dUp = dh * g * s; dGate = dh * up * s * (1 + g (1 - s)). Loads every input before either store. */
    private static void combineBackward(float[] dGate, float[] dUp, float[] dh, float[] g, float[] up, int off, int n,
                                        float[] e) {
        int j = 0;
        for (int end = S.loopBound(n); j < end; j += L) {
            FloatVector gv = FloatVector.fromArray(S, g, off + j);
            FloatVector ev = FloatVector.fromArray(S, e, j);
            FloatVector d = FloatVector.fromArray(S, dh, off + j);
            FloatVector u = FloatVector.fromArray(S, up, off + j);
            FloatVector s = V_ONE.blend(ev, gv.compare(VectorOperators.LT, V_ZERO)).div(ev.add(V_ONE));
            FloatVector dSilu = gv.fma(V_ONE.sub(s), V_ONE).mul(s);
            // Two conditional stores on loop-invariant flags (no vector select between them; see Gelu).
            if (dUp != null) {
                d.mul(gv.mul(s)).intoArray(dUp, off + j);
            }
            if (dGate != null) {
                d.mul(u).mul(dSilu).intoArray(dGate, off + j);
            }
        }
        for (; j < n; j++) {
            float gi = g[off + j];
            float di = dh[off + j];
            float ui = up[off + j];
            float s = (gi < 0f ? e[j] : 1f) / (e[j] + 1f);
            float dSilu = Math.fma(gi, 1f - s, 1f) * s;
            if (dUp != null) {
                dUp[off + j] = di * (gi * s);
            }
            if (dGate != null) {
                dGate[off + j] = di * ui * dSilu;
            }
        }
    }

    private static void run(Kernels k, int n, Kernels.RangeBody body) {
        if (n < MIN_PARALLEL) {
            if (n > 0) {
                body.run(0, n);
            }
        } else {
            k.parallelFor(n, body);
        }
    }

    // Constants as vectors, created once (a broadcast per use costs C2 more IR nodes than the arithmetic).
    private static final FloatVector V_ONE = FloatVector.broadcast(S, 1f);
    private static final FloatVector V_ZERO = FloatVector.zero(S);
    private static final FloatVector V_EXP_MIN = FloatVector.broadcast(S, -88f);
    private static final FloatVector V_LOG2E = FloatVector.broadcast(S, LOG2E);
    private static final FloatVector V_ROUND = FloatVector.broadcast(S, ROUND);
    private static final FloatVector V_M_LN2_HI = FloatVector.broadcast(S, -LN2_HI);
    private static final FloatVector V_M_LN2_LO = FloatVector.broadcast(S, -LN2_LO);
    private static final FloatVector V_E0 = FloatVector.broadcast(S, E0);
    private static final FloatVector V_E1 = FloatVector.broadcast(S, E1);
    private static final FloatVector V_E2 = FloatVector.broadcast(S, E2);
    private static final FloatVector V_E3 = FloatVector.broadcast(S, E3);
    private static final FloatVector V_E4 = FloatVector.broadcast(S, E4);
    private static final FloatVector V_E5 = FloatVector.broadcast(S, E5);
}
