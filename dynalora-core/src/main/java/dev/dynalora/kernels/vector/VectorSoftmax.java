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
 * Softmax on the Vector API: whole rows ({@link dev.dynalora.kernels.Kernels#softmaxForward},
 * {@link dev.dynalora.kernels.Kernels#softmaxBackward}), attention's row blocks
 * ({@link dev.dynalora.kernels.Kernels#softmaxRowsLocal}, {@link dev.dynalora.kernels.Kernels#softmaxBackwardRowsLocal}),
 * log-sum-exp, and the row softmax with log-sum-exp that {@link VectorLosses}' cross-entropy uses.
 *
 * <p>A row whose maximum is -infinity (every entry masked with -inf) has no defined softmax; it is
 * written as all zeros rather than NaN, so a fully padded example cannot poison the batch. Rows masked
 * with a large finite negative value (-1e30, -Float.MAX_VALUE) instead come out uniform, which is what
 * Hugging Face's finfo.min masking produces too.
 */
public final class VectorSoftmax {

    private VectorSoftmax() {
    }

    private static final int MIN_PARALLEL = 1 << 14;

    /** See {@link dev.dynalora.kernels.Kernels#softmaxForward}. */
    public static void forward(Kernels k, float[] out, float[] x, int rows, int cols) {
        run(k, rows, cols, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                if (out != x) {
                    System.arraycopy(x, r * cols, out, r * cols, cols);
                }
                rowInPlace(out, r * cols, cols, null, 0);
            }
        });
    }

    /** See {@link dev.dynalora.kernels.Kernels#softmaxBackward}. */
    public static void backward(Kernels k, float[] dx, float[] y, float[] dout, int rows, int cols) {
        run(k, rows, cols, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int base = r * cols;
                float dot = rowDot(y, base, dout, base, cols);
                for (int c = 0; c < cols; c++) {
                    dx[base + c] += y[base + c] * (dout[base + c] - dot);
                }
            }
        });
    }

    /** See {@link dev.dynalora.kernels.Kernels#softmaxRowsLocal}. */
    public static void rowsLocal(float[] a, int off, int rows, int cols, int visible0, float[] bias, int bOff) {
        for (int i = 0; i < rows; i++) {
            int row = off + i * cols;
            int visible = (int) Math.min(cols, (long) visible0 + i);
            rowInPlace(a, row, visible, bias, bOff);
            java.util.Arrays.fill(a, row + visible, row + cols, 0f);
        }
    }

    /** See {@link dev.dynalora.kernels.Kernels#softmaxBackwardRowsLocal}. */
    public static void backwardRowsLocal(float[] y, int yOff, float[] g, int gOff, int rows, int cols) {
        for (int i = 0; i < rows; i++) {
            rowBackwardInPlace(y, yOff + i * cols, g, gOff + i * cols, cols);
        }
    }

    /**
     * Softmax of a[off .. off+n) + bias[bOff .. bOff+n) in place (bias null for none): attention adds its
     * padding bias in the same pass that finds the row maximum.
     *
     * <p>Float throughout, on the Vector API: attention runs this over 128-wide rows of 6.3M scores per
     * layer, where the former double Math.exp per element cost more than the two matmuls around it. exp is
     * Cephes' expf (Cody-Waite reduction by ln 2, degree-5 polynomial, 2^k from the exponent bits; about
     * 1 ulp), and the normaliser is summed in float vector lanes (a row of 128 has an error near 1e-7
     * relative, far inside what the probabilities need). The order of every operation depends only on n
     * and the vector width, so results do not depend on the thread count.
     */
    static void rowInPlace(float[] a, int off, int n, float[] bias, int bOff) {
        float max = bias == null ? rowMax(a, off, n) : addBiasAndMax(a, off, n, bias, bOff);
        if (max == Float.NEGATIVE_INFINITY) {
            java.util.Arrays.fill(a, off, off + n, 0f);
            return;
        }
        float sum = expAndSum(a, off, n, max);
        // sum >= 1 because the maximum contributes exp(0) = 1, so the division is always safe.
        scale(a, off, n, 1f / sum);
    }

    /**
     * Softmax of a[off .. off+n) in place, returning the row's log-sum-exp, max + log(sum(exp(a - max))), which
     * cross-entropy needs (loss = logsumexp - a[label], read before the call). An all -inf row becomes zeros and
     * returns -inf.
     */
    public static double rowInPlaceLogSumExp(float[] a, int off, int n) {
        float max = rowMax(a, off, n);
        if (max == Float.NEGATIVE_INFINITY) {
            java.util.Arrays.fill(a, off, off + n, 0f);
            return Double.NEGATIVE_INFINITY;
        }
        float sum = expAndSum(a, off, n, max);
        scale(a, off, n, 1f / sum);
        return max + Math.log(sum);
    }

    /**
     * log(sum(exp(x[off .. off+n)))), relative to the row maximum so nothing overflows: the normaliser of a
     * log-softmax (log p_i = x_i - logSumExp). scratch (at least n floats) receives exp(x - max); the
     * exponentials are added in double, so a 32,000-entry vocabulary loses nothing to the summation.
     * -infinity for an all -inf row.
     */
    public static double logSumExp(float[] x, int off, int n, float[] scratch) {
        float max = rowMax(x, off, n);
        if (max == Float.NEGATIVE_INFINITY || Float.isNaN(max)) {
            return max;
        }
        System.arraycopy(x, off, scratch, 0, n);
        expAndSum(scratch, 0, n, max);
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += scratch[i];
        }
        return max + Math.log(sum);
    }

    /**
     * Turns g (the gradient with respect to the softmax output y of one row) into the gradient with
     * respect to the softmax input, in place: g := y * (g - sum(g * y)).
     */
    static void rowBackwardInPlace(float[] y, int yOff, float[] g, int gOff, int n) {
        float dot = rowDot(y, yOff, g, gOff, n);
        int i = 0;
        if (n >= L) {
            FloatVector vd = FloatVector.broadcast(S, dot);
            for (int end = S.loopBound(n); i < end; i += L) {
                FloatVector yv = FloatVector.fromArray(S, y, yOff + i);
                yv.mul(FloatVector.fromArray(S, g, gOff + i).sub(vd)).intoArray(g, gOff + i);
            }
        }
        for (; i < n; i++) {
            g[gOff + i] = y[yOff + i] * (g[gOff + i] - dot);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Row passes. Each is its own small method with a single vector loop: on JDK 17, C2 compiles big
    // Vector API bodies badly once other vector code has warmed up (see VectorGelu), and small ones reliably.
    // ---------------------------------------------------------------------------------------------

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    private static float rowMax(float[] a, int off, int n) {
        int i = 0;
        float max = Float.NEGATIVE_INFINITY;
        if (n >= L) {
            FloatVector m = FloatVector.fromArray(S, a, off);
            for (i = L; i <= n - L; i += L) {
                m = m.max(FloatVector.fromArray(S, a, off + i));
            }
            max = m.reduceLanes(VectorOperators.MAX);
        }
        for (; i < n; i++) {
            max = Math.max(max, a[off + i]);
        }
        return max;
    }

    private static float addBiasAndMax(float[] a, int off, int n, float[] bias, int bOff) {
        int i = 0;
        float max = Float.NEGATIVE_INFINITY;
        if (n >= L) {
            FloatVector m = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
            for (int end = S.loopBound(n); i < end; i += L) {
                FloatVector v = FloatVector.fromArray(S, a, off + i).add(FloatVector.fromArray(S, bias, bOff + i));
                v.intoArray(a, off + i);
                m = m.max(v);
            }
            max = m.reduceLanes(VectorOperators.MAX);
        }
        for (; i < n; i++) {
            float v = a[off + i] + bias[bOff + i];
            a[off + i] = v;
            max = Math.max(max, v);
        }
        return max;
    }

    /** a[i] = exp(a[i] - max) over the row; returns the sum of the new values. */
    private static float expAndSum(float[] a, int off, int n, float max) {
        int i = 0;
        float sum = 0f;
        if (n >= L) {
            FloatVector vm = FloatVector.broadcast(S, max);
            FloatVector acc = FloatVector.zero(S);
            for (int end = S.loopBound(n); i < end; i += L) {
                // exp(x - max), spelled out rather than called: a vector passed to or returned from a
                // method that C2 happens not to inline (see VectorGelu) is boxed on every iteration.
                FloatVector xc = FloatVector.fromArray(S, a, off + i).sub(vm).max(V_EXP_MIN);
                FloatVector j = xc.fma(V_LOG2E, V_ROUND);
                FloatVector kf = j.sub(V_ROUND);
                FloatVector r = kf.fma(V_M_LN2_LO, kf.fma(V_M_LN2_HI, xc));
                FloatVector y = r.fma(V_E0, V_E1).fma(r, V_E2).fma(r, V_E3).fma(r, V_E4).fma(r, V_E5)
                        .fma(r.mul(r), r).add(V_ONE);
                FloatVector e = y.mul(j.reinterpretAsInts().lanewise(VectorOperators.LSHL, 23).add(127 << 23)
                        .reinterpretAsFloats());
                e.intoArray(a, off + i);
                acc = acc.add(e);
            }
            sum = Lanes.sum(acc);
        }
        for (; i < n; i++) {
            float e = exp(a[off + i] - max);
            a[off + i] = e;
            sum += e;
        }
        return sum;
    }

    private static void scale(float[] a, int off, int n, float f) {
        int i = 0;
        if (n >= L) {
            FloatVector vf = FloatVector.broadcast(S, f);
            for (int end = S.loopBound(n); i < end; i += L) {
                FloatVector.fromArray(S, a, off + i).mul(vf).intoArray(a, off + i);
            }
        }
        for (; i < n; i++) {
            a[off + i] *= f;
        }
    }

    private static float rowDot(float[] a, int aOff, float[] b, int bOff, int n) {
        int i = 0;
        float s = 0f;
        if (n >= L) {
            FloatVector acc = FloatVector.zero(S);
            for (int end = S.loopBound(n); i < end; i += L) {
                acc = FloatVector.fromArray(S, a, aOff + i).fma(FloatVector.fromArray(S, b, bOff + i), acc);
            }
            s = Lanes.sum(acc);
        }
        for (; i < n; i++) {
            s = Math.fma(a[aOff + i], b[bOff + i], s);
        }
        return s;
    }

    // exp for arguments <= 0 (Cephes expf). Below -88 the clamp makes k = -127, whose 2^k bit pattern is
    // +0, so exp of very negative and -inf arguments is exactly 0 without a special case; NaN stays NaN.
    private static final float EXP_MIN = -88f;
    private static final FloatVector V_EXP_MIN = FloatVector.broadcast(S, EXP_MIN);
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
    private static final FloatVector V_ONE = FloatVector.broadcast(S, 1f);

    /** exp(x) for x <= 0: the scalar twin of the vector exp in expAndSum (the same operations, so the same results). */
    static float exp(float x) {
        float xc = Math.max(x, EXP_MIN);
        float j = Math.fma(xc, LOG2E, ROUND);
        float kf = j - ROUND;
        float r = Math.fma(kf, -LN2_LO, Math.fma(kf, -LN2_HI, xc));
        float y = Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(r, E0, E1), r, E2), r, E3), r, E4), r, E5),
                r * r, r) + 1f;
        return y * Float.intBitsToFloat((Float.floatToRawIntBits(j) << 23) + (127 << 23));
    }

    private static void run(Kernels k, int rows, int cols, Kernels.RangeBody body) {
        if (rows == 0) {
            return;
        }
        if ((long) rows * cols < MIN_PARALLEL) {
            body.run(0, rows);
        } else {
            k.parallelFor(rows, body);
        }
    }
}
