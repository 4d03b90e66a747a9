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
 * BERT's exact "gelu" activation, gelu(x) = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), on the Vector API
 * ({@link dev.dynalora.kernels.Kernels#geluForward}, {@link dev.dynalora.kernels.Kernels#geluBackward}).
 *
 * <h2>Float, on the Vector API</h2>
 * The model applies gelu to 6.3M elements per layer (batch 32 x 128 tokens x 1536) forward and again
 * backward, so the array versions must cost a few cycles per element next to the matmuls either side. They
 * evaluate Phi in float with one exp and one division per element, in relative terms also in the negative
 * tail (where 0.5 (1 + erf) in float would cancel to 0):
 * <pre>
 *   a = min(|x|, 13.25),  t = 1 / (1 + 0.3 a)
 *   Q(a) = Phi(-a) = exp(-a^2 / 2) * t * G(t)      G: degree-9 polynomial in t - 1/2, fitted (relative
 *                                                   minimax by Lawson iteration: 3.4e-9) to Q(a) e^(a^2/2) / t
 *   Phi(x) = x < 0 ? Q(a) : 1 - Q(a),   Phi'(x) = phi(x) = exp(-a^2 / 2) / sqrt(2 pi)
 * </pre>
 * The substitution t = 1/(1 + p a) is the one of the Numerical Recipes erfc (there with the polynomial in
 * the exponent); here it is refitted for the range GELU needs, with the polynomial outside the exponent.
 * exp(-a^2/2) is computed from the exact split a^2 = s + e (s = fl(a*a), e = fma(a, a, -s)) with a
 * Cody-Waite reduction by ln 2 and Cephes' expf polynomial, so the large exponent of the far tail
 * (up to -88) carries no float rounding error into the result; 2^k comes from the exponent bits of the
 * rounding constant. The clamp at a = 13.25 makes k = -127, whose 2^k bit pattern is +0: lanes beyond it
 * get exactly Q = 0 (gelu(x < -13.24) is below 1e-38, float's normal range) and no special case is needed
 * for huge or infinite x. Both the forward (x Phi) and the backward factor (Phi + x phi) reuse one exp:
 * with u = +-t G(t), Phi = base + y u 2^k and Phi + x phi = base + y (u + x / sqrt(2 pi)) 2^k.
 *
 * <p>Accuracy, against the double reference {@code layers.Gelu.gelu} on dense grids (GeluTest holds these bounds): the
 * forward is within 4e-7 relative (about 5 ulp) of the true value wherever Phi(x) is a normal float
 * (x > -13), and within 2e-38 absolute beyond; the backward factor Phi + x phi within 1.5e-7 absolute
 * plus 6e-7 relative (the absolute part is the cancellation of Phi against x phi near x = -0.75, where
 * the factor crosses zero). The old double evaluation was correctly rounded, which training does not
 * need: PyTorch evaluates 0.5 x (1 + erf) with a 1-2 ulp float erf, losing the whole negative tail.
 *
 * <p>Vector API on JDK 17: an earlier Vector API version of the piecewise erfc (all pieces computed and
 * blended per lane) kept deoptimising, because its body exceeded C2's inlining and node budgets. This one
 * is a single formula (no pieces, two blends) of about 55 vector operations, split into three short
 * loops per block of elements for the same reason (see the note above {@link #forwardRange}); checked on
 * JDK 17 and 25 to run without boxing (no allocation in steady state) also after the matmul kernels have
 * warmed up. Elements that do not fill a whole vector go through scalar twins that perform the same
 * float operations in the same order, so every element gets the same result whatever the thread split
 * is (results are identical for any thread count).
 */
public final class VectorGelu {

    private VectorGelu() {
    }

    private static final double INV_SQRT_2PI = 0.39894228040143267794;
    /** Below this many elements, handing work to other threads costs more than it saves. */
    private static final int MIN_PARALLEL = 1 << 13;

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    /** |x| beyond which Q(|x|) is flushed to exactly 0 (see the class comment). */
    private static final float A_MAX = 13.25f;
    private static final float P = 0.3f;
    // G(t) = Q(a) e^(a^2/2) / t = sum Gi (t - 1/2)^i, t = 1 / (1 + P a), a in [0, 13.25]: relative error 3.4e-9.
    private static final float G0 = 0.22197061777114868f;
    private static final float G1 = 0.3291589617729187f;
    private static final float G2 = 0.34619882702827454f;
    private static final float G3 = 0.2220827341079712f;
    private static final float G4 = 0.029056355357170105f;
    private static final float G5 = -0.07755367457866669f;
    private static final float G6 = -0.036455072462558746f;
    private static final float G7 = 0.03592773526906967f;
    private static final float G8 = 0.01958303712308407f;
    private static final float G9 = -0.020581908524036407f;
    private static final float INV_SQRT_2PI_F = (float) INV_SQRT_2PI;

    /** See {@link dev.dynalora.kernels.Kernels#geluForward}. */
    public static void forward(Kernels k, float[] out, float[] x, int n) {
        if (n < MIN_PARALLEL) {
            forwardRange(out, x, 0, n);
        } else {
            k.parallelFor(n, (from, to) -> forwardRange(out, x, from, to));
        }
    }

    /** See {@link dev.dynalora.kernels.Kernels#geluBackward}. */
    public static void backward(Kernels k, float[] dx, float[] x, float[] dout, int n, boolean accumulate) {
        if (n < MIN_PARALLEL) {
            backwardRange(dx, x, dout, 0, n, accumulate);
        } else {
            k.parallelFor(n, (from, to) -> backwardRange(dx, x, dout, from, to, accumulate));
        }
    }

    // ---------------------------------------------------------------------------------------------
    // The float kernels. Each range is processed in blocks of BLOCK elements, in three stages that are
    // separate methods with one vector loop each: ratioBlock writes u = +-t G(t) for the block into a
    // small scratch, expBlock writes e = exp(-a^2/2) into another (both stay in L1), and a combining loop
    // forms the output or the gradient. The split is for the JIT, not for the arithmetic:
    //  - With all ~55 vector operations in one loop, C2 on JDK 17 compiled the loop cleanly in isolation,
    //    but once the sgemm and attention kernels had run (their warm-up leaves class-check traps in the
    //    Vector API's shared internals, so every vector operation inlined afterwards costs C2 more IR
    //    nodes), the loop outgrew C2's inlining node budget, some vector intrinsics stayed calls and every
    //    iteration boxed a vector on the heap (4 GB allocated per benchmark run, 2-3x slower).
    //  - No vector is passed to or returned from a method of ours: such a helper is inlined only while
    //    C2 chooses to (it is not once it has been compiled on its own into more than InlineSmallCode
    //    bytes, which depends on warm-up timing), and a vector crossing a call that is not inlined is
    //    boxed. So each stage spells out its formula, and the scalar twins carry the leftovers.
    //  - The stages are called thousands of times per range and compiled on their own long before the
    //    block loop is; C2 then does not inline them back into one compilation ("already compiled into a
    //    big method"), and even where it does, each stage is a loop of its own.
    // ---------------------------------------------------------------------------------------------

    /** Block length: a multiple of every vector length, small enough for the scratches to stay in L1. */
    private static final int BLOCK = 512;

    private static void forwardRange(float[] out, float[] x, int from, int to) {
        float[] u = new float[BLOCK];
        float[] e = new float[BLOCK];
        for (int b = from; b < to; b += BLOCK) {
            int n = Math.min(BLOCK, to - b);
            ratioBlock(x, b, n, u);
            expBlock(x, b, n, e);
            combineForward(out, x, b, n, u, e);
        }
    }

    /** dx = dout * gelu'(x) + (accumulate ? dx : 0); dx may be dout (in place) when not accumulating. */
    private static void backwardRange(float[] dx, float[] x, float[] dout, int from, int to, boolean accumulate) {
        float[] u = new float[BLOCK];
        float[] e = new float[BLOCK];
        for (int b = from; b < to; b += BLOCK) {
            int n = Math.min(BLOCK, to - b);
            ratioBlock(x, b, n, u);
            expBlock(x, b, n, e);
            combineBackward(dx, x, dout, b, n, u, e, accumulate);
        }
    }

    /**
     * u[j] = x < 0 ? t G(t) : -t G(t) for x = x[off + j], where t G(t) = Phi(-a) e^(a^2/2), a = |x|,
     * t = 1 / (1 + P a). t is refined by one correction step (d = fl(1 + P a) and 1/d each round once;
     * fma recovers both residuals) because near a = 0 the result moves 1.3x as much as t does, and G is
     * evaluated in t - 1/2, where its terms shrink faster: together these take the worst forward error
     * from about 6 to about 4 ulp.
     */
    private static void ratioBlock(float[] x, int off, int n, float[] u) {
        int j = 0;
        for (int end = S.loopBound(n); j < end; j += L) {
            FloatVector v = FloatVector.fromArray(S, x, off + j);
            FloatVector a = v.abs().min(V_A_MAX);
            FloatVector d = a.fma(V_P, V_ONE);
            FloatVector t0 = V_ONE.div(d);
            FloatVector dl = a.fma(V_P, V_ONE.sub(d));
            FloatVector t = t0.fma(dl.neg().fma(t0, t0.neg().fma(d, V_ONE)), t0);
            FloatVector z = t.sub(V_HALF);
            FloatVector g = z.fma(V_G9, V_G8).fma(z, V_G7).fma(z, V_G6).fma(z, V_G5).fma(z, V_G4)
                    .fma(z, V_G3).fma(z, V_G2).fma(z, V_G1).fma(z, V_G0).mul(t);
            g.neg().blend(g, v.compare(VectorOperators.LT, V_ZERO)).intoArray(u, j);
        }
        for (; j < n; j++) {
            float xi = x[off + j];
            float g = tailRatio(Math.min(Math.abs(xi), A_MAX));
            u[j] = xi < 0f ? g : -g;
        }
    }

    /**
     * e[j] = exp(-a^2 / 2) for a = min(|x[off + j]|, A_MAX), from the exact split a^2 = s + r0
     * (s = fl(a a), r0 = fma(a, a, -s)): k = round(-s/2 log2 e), r = -s/2 - k ln2 - r0/2,
     * exp = (1 + r + r^2 E(r)) 2^k. At a = A_MAX, k = -127 and the 2^k bit pattern is +0 (see the class
     * comment).
     */
    private static void expBlock(float[] x, int off, int n, float[] e) {
        int j = 0;
        for (int end = S.loopBound(n); j < end; j += L) {
            FloatVector a = FloatVector.fromArray(S, x, off + j).abs().min(V_A_MAX);
            FloatVector s = a.mul(a);
            FloatVector hi = s.mul(V_M_HALF);
            FloatVector k = hi.fma(V_LOG2E, V_ROUND);
            FloatVector kf = k.sub(V_ROUND);
            FloatVector r = a.fma(a, s.neg()).fma(V_M_HALF, kf.fma(V_M_LN2_LO, kf.fma(V_M_LN2_HI, hi)));
            FloatVector y = r.fma(V_E0, V_E1).fma(r, V_E2).fma(r, V_E3).fma(r, V_E4).fma(r, V_E5)
                    .fma(r.mul(r), r).add(V_ONE);
            y.mul(k.reinterpretAsInts().lanewise(VectorOperators.LSHL, 23).add(127 << 23).reinterpretAsFloats())
                    .intoArray(e, j);
        }
        for (; j < n; j++) {
            e[j] = expNegHalfSquare(Math.min(Math.abs(x[off + j]), A_MAX));
        }
    }

    /** out[off + j] = x Phi(x) = x (base + e u), base = x < 0 ? 0 : 1. */
    private static void combineForward(float[] out, float[] x, int off, int n, float[] u, float[] e) {
        int j = 0;
        for (int end = S.loopBound(n); j < end; j += L) {
            FloatVector v = FloatVector.fromArray(S, x, off + j);
            FloatVector base = V_ONE.blend(V_ZERO, v.compare(VectorOperators.LT, V_ZERO));
            FloatVector phi = FloatVector.fromArray(S, e, j).fma(FloatVector.fromArray(S, u, j), base);
            v.mul(phi).intoArray(out, off + j);
        }
        for (; j < n; j++) {
            float xi = x[off + j];
            out[off + j] = xi * Math.fma(e[j], u[j], xi < 0f ? 0f : 1f);
        }
    }

    /**
     * dx[off + j] (+)= dout (Phi(x) + x phi(x)) = dout (base + e (u + x / sqrt(2 pi))); with accumulate
     * false dx is overwritten (and may be dout).
     */
    private static void combineBackward(float[] dx, float[] x, float[] dout, int off, int n, float[] u, float[] e,
                                        boolean accumulate) {
        int j = 0;
        for (int end = S.loopBound(n); j < end; j += L) {
            FloatVector v = FloatVector.fromArray(S, x, off + j);
            FloatVector base = V_ONE.blend(V_ZERO, v.compare(VectorOperators.LT, V_ZERO));
            FloatVector w = v.fma(V_INV_SQRT_2PI, FloatVector.fromArray(S, u, j));
            FloatVector grad = FloatVector.fromArray(S, e, j).fma(w, base);
            FloatVector d = FloatVector.fromArray(S, dout, off + j);
            // Two stores rather than a select between them: a vector phi is another thing C2 may box.
            if (accumulate) {
                grad.fma(d, FloatVector.fromArray(S, dx, off + j)).intoArray(dx, off + j);
            } else {
                grad.mul(d).intoArray(dx, off + j);
            }
        }
        for (; j < n; j++) {
            float xi = x[off + j];
            float grad = Math.fma(e[j], Math.fma(xi, INV_SQRT_2PI_F, u[j]), xi < 0f ? 0f : 1f);
            dx[off + j] = accumulate ? Math.fma(grad, dout[off + j], dx[off + j]) : grad * dout[off + j];
        }
    }

    // Constants as vectors, created once: a broadcast per use would cost C2 more IR nodes per iteration
    // than the arithmetic itself.
    private static final FloatVector V_ONE = bc(1f);
    private static final FloatVector V_ZERO = FloatVector.zero(S);
    private static final FloatVector V_A_MAX = bc(A_MAX);
    private static final FloatVector V_P = bc(P);
    private static final FloatVector V_G0 = bc(G0), V_G1 = bc(G1), V_G2 = bc(G2), V_G3 = bc(G3), V_G4 = bc(G4);
    private static final FloatVector V_G5 = bc(G5), V_G6 = bc(G6), V_G7 = bc(G7), V_G8 = bc(G8), V_G9 = bc(G9);
    private static final FloatVector V_E0 = bc(E0), V_E1 = bc(E1), V_E2 = bc(E2), V_E3 = bc(E3), V_E4 = bc(E4), V_E5 = bc(E5);
    private static final FloatVector V_LOG2E = bc(LOG2E);
    private static final FloatVector V_ROUND = bc(ROUND);
    private static final FloatVector V_M_LN2_HI = bc(-LN2_HI);
    private static final FloatVector V_M_LN2_LO = bc(-LN2_LO);
    private static final FloatVector V_M_HALF = bc(-0.5f);
    private static final FloatVector V_HALF = bc(0.5f);
    private static final FloatVector V_INV_SQRT_2PI = bc(INV_SQRT_2PI_F);

    // Scalar twins of ratioBlock's and expBlock's vector formulas: the same operations in the same order
    // (fma is exactly rounded in both), so an element gets bit-identical results whether it falls in a
    // whole vector or in the leftovers of a thread's range.

    static float tailRatio(float a) {
        float d = Math.fma(a, P, 1f);
        float t0 = 1f / d;
        float dl = Math.fma(a, P, 1f - d);
        float t = Math.fma(t0, Math.fma(-dl, t0, Math.fma(-t0, d, 1f)), t0);
        float z = t - 0.5f;
        return Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(
                z, G9, G8), z, G7), z, G6), z, G5), z, G4), z, G3), z, G2), z, G1), z, G0) * t;
    }

    static float expNegHalfSquare(float a) {
        float s = a * a;
        float hi = s * -0.5f;
        float j = Math.fma(hi, LOG2E, ROUND);
        float kf = j - ROUND;
        float r = Math.fma(Math.fma(a, a, -s), -0.5f, Math.fma(kf, -LN2_LO, Math.fma(kf, -LN2_HI, hi)));
        float y = Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(r, E0, E1), r, E2), r, E3), r, E4), r, E5),
                r * r, r) + 1f;
        return y * Float.intBitsToFloat((Float.floatToRawIntBits(j) << 23) + (127 << 23));
    }

    /** Phi(x) (grad false) or Phi(x) + x phi(x) (grad true) through the scalar twins: for the tests. */
    public static float cdf(float x, boolean grad) {
        float a = Math.min(Math.abs(x), A_MAX);
        float g = tailRatio(a);
        float u = x < 0f ? g : -g;
        float w = grad ? Math.fma(x, INV_SQRT_2PI_F, u) : u;
        return Math.fma(expNegHalfSquare(a), w, x < 0f ? 0f : 1f);
    }

    private static FloatVector bc(float v) {
        return FloatVector.broadcast(S, v);
    }
}
