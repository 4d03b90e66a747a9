package dev.dynalora.kernels.vector;

import static dev.dynalora.kernels.vector.ExpfConstants.E0;
import static dev.dynalora.kernels.vector.ExpfConstants.E1;
import static dev.dynalora.kernels.vector.ExpfConstants.E2;
import static dev.dynalora.kernels.vector.ExpfConstants.E3;
import static dev.dynalora.kernels.vector.ExpfConstants.E4;
import static dev.dynalora.kernels.vector.ExpfConstants.E5;
import static dev.dynalora.kernels.vector.ExpfConstants.LN2_HI;
import static dev.dynalora.kernels.vector.ExpfConstants.LN2_LO;
import static dev.dynalora.kernels.vector.ExpfConstants.LOG2E;
import static dev.dynalora.kernels.vector.ExpfConstants.ROUND;

import dev.dynalora.kernels.Kernels;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The gated activation of Llama's MLP, h = silu(gate) * up with silu(g) = g * sigmoid(g), on the Vector API
 * ({@link dev.dynalora.kernels.Kernels#swigluForward}, {@link dev.dynalora.kernels.Kernels#swigluBackward}).
 *
 * <p>Backward: dUp = dh * silu(g), dGate = dh * up * silu'(g), silu'(g) = s (1 + g (1 - s)), s = sigmoid(g).
 * Nothing is saved beyond the caller's gate and up: backward recomputes the sigmoid, which is cheaper than
 * streaming a third intermediate-sized buffer through memory.
 *
 * <p>The sigmoid is evaluated without overflow for any input: e = exp(-|g|) is in (0, 1], and
 * s = (g &lt; 0 ? e : 1) / (1 + e). exp is the Cephes expf that {@link VectorSoftmax} uses (about 1 ulp; below
 * -88 it is exactly 0). As in {@link VectorGelu}, each block of elements goes through small stages with one
 * vector loop each (C2 on JDK 17 compiles those without boxing), and elements outside whole vectors go
 * through scalar twins with the same float operations in the same order, so every element gets the same
 * result for any thread split.
 */
public final class VectorSwiGlu {

    private VectorSwiGlu() {
    }

    /** Below this many elements, handing work to other threads costs more than it saves. */
    private static final int MIN_PARALLEL = 1 << 13;
    /** Block length: a multiple of every vector length, small enough for the scratch to stay in L1. */
    private static final int BLOCK = 512;

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    /** See {@link dev.dynalora.kernels.Kernels#swigluForward}. */
    public static void forward(Kernels k, float[] h, float[] gate, float[] up, int n) {
        run(k, n, (from, to) -> {
            float[] e = new float[BLOCK];
            for (int b = from; b < to; b += BLOCK) {
                int m = Math.min(BLOCK, to - b);
                expBlock(gate, b, m, e);
                combineForward(h, gate, up, b, m, e);
            }
        });
    }

    /** See {@link dev.dynalora.kernels.Kernels#swigluBackward}. */
    public static void backward(Kernels k, float[] dGate, float[] dUp, float[] dh, float[] gate, float[] up, int n) {
        if (dGate == null && dUp == null) {
            return;
        }
        run(k, n, (from, to) -> {
            float[] e = new float[BLOCK];
            for (int b = from; b < to; b += BLOCK) {
                int m = Math.min(BLOCK, to - b);
                expBlock(gate, b, m, e);
                combineBackward(dGate, dUp, dh, gate, up, b, m, e);
            }
        });
    }

    /** e[j] = exp(-|g[off + j]|). */
    private static void expBlock(float[] g, int off, int n, float[] e) {
        int j = 0;
        for (int end = S.loopBound(n); j < end; j += L) {
            // Spelled out, not called: a vector crossing a call C2 does not inline is boxed (see VectorGelu).
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
            e[j] = VectorSoftmax.exp(-Math.abs(g[off + j]));
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
            // Two conditional stores on loop-invariant flags (no vector select between them; see VectorGelu).
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
