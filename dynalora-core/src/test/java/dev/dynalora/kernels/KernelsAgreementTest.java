package dev.dynalora.kernels;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every {@link Kernels} operation run on the default Vector API backend ({@link CpuKernels}, with 1 and with 2
 * threads) and on the independent {@link ScalarKernels}, on random inputs of odd sizes: lengths that leave
 * vector tails (1, 3, 7, 15, 16, 17, 33, 389 for any vector width up to 16 lanes), 1 to 5 rows, and one large
 * case per operation that crosses the backends' thresholds for splitting work across threads.
 *
 * <p>Two checks per operation: the 1-thread and 2-thread results are bit-identical (the Kernels contract: no
 * result depends on the thread count), and the Vector API results agree with the scalar ones within a stated
 * tolerance, |vector - scalar| &lt;= abs + rel * |scalar| element by element. Where both backends do the same
 * float operations (copies, one add or one product per element, the dropout mask) the tolerance is 0. Elsewhere
 * it is set by what the two backends do differently: the scalar one computes in double and rounds once, the
 * Vector API one rounds every float operation, sums rows in float vector lanes, and evaluates exp and erf with
 * float polynomials (about 1 ulp for exp, 5 ulp for GELU's Phi). A float sum of n terms of one sign is off by
 * at most about n * 2^-24 (6e-8 n) relative, and lane-wise summation keeps it far below that; so rel = 1e-5
 * covers the longest rows here (389) with margin, and abs covers results near zero after cancellation (scaled
 * by the size of the terms that cancelled, O(1) here). A broken operation is off by O(1) and fails.
 */
class KernelsAgreementTest {

    static final int[] LENGTHS = {1, 3, 7, 15, 16, 17, 33, 389};
    static final CpuKernels ONE = new CpuKernels(1);
    static final CpuKernels TWO = new CpuKernels(2);
    static final ScalarKernels SCALAR = new ScalarKernels();

    @AfterAll
    static void close() {
        ONE.close();
        TWO.close();
    }

    // ------------------------------------------------------------------------------------------------
    // Harness
    // ------------------------------------------------------------------------------------------------

    /** Runs op on the scalar backend and on the Vector API backend with 1 and 2 threads. */
    static List<List<float[]>> run(Function<Kernels, List<float[]>> op) {
        return List.of(op.apply(SCALAR), op.apply(ONE), op.apply(TWO));
    }

    /**
     * Asserts that the 1- and 2-thread results are bit-identical and that they agree with the scalar ones,
     * output by output, to within abs + rel * |scalar|.
     */
    static void check(String what, List<List<float[]>> r, double rel, double abs) {
        List<float[]> s = r.get(0);
        List<float[]> v1 = r.get(1);
        List<float[]> v2 = r.get(2);
        for (int o = 0; o < s.size(); o++) {
            assertArrayEquals(bits(v1.get(o)), bits(v2.get(o)), what + ": output " + o + " differs between 1 and 2 threads");
            float[] e = s.get(o);
            float[] a = v1.get(o);
            assertEquals(e.length, a.length);
            for (int i = 0; i < e.length; i++) {
                if (Float.isNaN(e[i]) || Float.isNaN(a[i])) {
                    if (Float.isNaN(e[i]) != Float.isNaN(a[i])) {
                        fail(what + ": output " + o + "[" + i + "]: scalar " + e[i] + ", vector " + a[i]);
                    }
                    continue;
                }
                if (e[i] == a[i]) {
                    continue; // also equal infinities
                }
                double err = Math.abs((double) a[i] - e[i]);
                if (!(err <= abs + rel * Math.abs(e[i]))) {
                    fail(what + ": output " + o + "[" + i + "]: scalar " + e[i] + ", vector " + a[i] + " (error " + err
                            + ", allowed " + (abs + rel * Math.abs(e[i])) + ")");
                }
            }
        }
    }

    static int[] bits(float[] x) {
        int[] b = new int[x.length];
        for (int i = 0; i < x.length; i++) {
            b[i] = Float.floatToRawIntBits(x[i]);
        }
        return b;
    }

    static float[] gauss(SplittableRandom r, int n, double scale) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            // Box-Muller: SplittableRandom has no nextGaussian on JDK 17
            double u = 1 - r.nextDouble();
            x[i] = (float) (Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r.nextDouble()) * scale);
        }
        return x;
    }

    static float[] uniform(SplittableRandom r, int n, double lo, double hi) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (lo + (hi - lo) * r.nextDouble());
        }
        return x;
    }

    static float[] c(float[] x) {
        return x == null ? null : x.clone();
    }

    static List<float[]> out(float[]... xs) {
        List<float[]> l = new ArrayList<>();
        for (float[] x : xs) {
            if (x != null) {
                l.add(x);
            }
        }
        return l;
    }

    /** (rows, cols) shapes: 1..5 rows of every odd length, plus one large case past the threading thresholds. */
    static List<int[]> shapes(int largeRows, int largeCols) {
        List<int[]> s = new ArrayList<>();
        int rows = 1;
        for (int n : LENGTHS) {
            s.add(new int[] {rows, n});
            rows = rows % 5 + 1;
        }
        s.add(new int[] {largeRows, largeCols});
        return s;
    }

    // ------------------------------------------------------------------------------------------------
    // Products
    // ------------------------------------------------------------------------------------------------

    @Test
    void sgemm() {
        SplittableRandom r = new SplittableRandom(1);
        for (int[] mnk : new int[][] {{1, 7, 33}, {3, 17, 16}, {5, 389, 15}, {37, 70, 129}}) {
            int m = mnk[0], n = mnk[1], k = mnk[2];
            for (boolean ta : new boolean[] {false, true}) {
                for (boolean tb : new boolean[] {false, true}) {
                    float[] a = gauss(r, m * k, 1);
                    float[] b = gauss(r, k * n, 1);
                    float[] c0 = gauss(r, m * n, 1);
                    // Sums of k products of N(0, 1) values: an error of about k * 6e-8 times their magnitude.
                    check("sgemm " + m + "x" + n + "x" + k + " " + ta + tb, run(kk -> {
                        float[] cc = c(c0);
                        kk.sgemm(ta, tb, m, n, k, 0.7f, a, 0, ta ? m : k, b, 0, tb ? k : n, 0.5f, cc, 0, n);
                        return out(cc);
                    }), 1e-5, 1e-6 * k);
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Normalisation
    // ------------------------------------------------------------------------------------------------

    @Test
    void layerNorm() {
        SplittableRandom r = new SplittableRandom(2);
        for (int[] sh : shapes(60, 389)) {
            int rows = sh[0], dim = sh[1];
            // a common offset in every row: the vector backend centres on a pivot to keep its precision
            float[] x = gauss(r, rows * dim, 1);
            for (int i = 0; i < x.length; i++) {
                x[i] += 3f;
            }
            float[] other = gauss(r, rows * dim, 1);
            float[] gamma = gauss(r, dim, 1);
            float[] beta = gauss(r, dim, 1);
            float eps = 1e-5f;
            String at = " rows " + rows + " dim " + dim;
            // Outputs are O(1) (normalised, times gamma): float statistics over <= 389 values, rel and abs 1e-5.
            // (dim 1 normalises to beta exactly, the variance being 0.)
            for (boolean affine : new boolean[] {true, false}) {
                check("layerNormForward" + at + (affine ? "" : " plain"), run(k -> {
                    float[] o = new float[rows * dim];
                    float[] mean = new float[rows];
                    float[] rstd = new float[rows];
                    k.layerNormForward(o, mean, rstd, x, affine ? gamma : null, affine ? beta : null, rows, dim, eps);
                    return out(o, mean, rstd);
                }), 1e-5, 1e-5);
            }
            check("layerNormResidualForward" + at, run(k -> {
                float[] o = new float[rows * dim];
                float[] res = new float[rows * dim];
                float[] mean = new float[rows];
                float[] rstd = new float[rows];
                k.layerNormResidualForward(o, res, mean, rstd, x, other, gamma, beta, rows, dim, eps);
                return out(o, res, mean, rstd);
            }), 1e-5, 1e-5);
            float[] mean = new float[rows];
            float[] rstd = new float[rows];
            SCALAR.layerNormForward(new float[rows * dim], mean, rstd, x, gamma, beta, rows, dim, eps);
            float[] dout = gauss(r, rows * dim, 1);
            float[] dx0 = gauss(r, rows * dim, 1);
            float[] dg0 = gauss(r, dim, 1);
            float[] db0 = gauss(r, dim, 1);
            for (boolean overwrite : new boolean[] {false, true}) {
                // dx subtracts the row means of g and g * xhat from g: absolute error relative to the O(rstd)
                // size of the terms, 1e-4 (rstd is about 1 here); dgamma and dbeta sum <= 60 rows.
                check("layerNormBackward" + at + (overwrite ? " overwrite" : ""), run(k -> {
                    float[] dx = c(dx0);
                    float[] dg = c(dg0);
                    float[] db = c(db0);
                    k.layerNormBackward(dx, dg, db, dout, x, gamma, mean, rstd, rows, dim, overwrite);
                    return out(dx, dg, db);
                }), 1e-5, 1e-4);
            }
            check("layerNormBackward (only dgamma, no gamma)" + at, run(k -> {
                float[] dg = c(dg0);
                k.layerNormBackward(null, dg, null, dout, x, null, mean, rstd, rows, dim, false);
                return out(dg);
            }), 1e-5, 1e-4);
        }
    }

    @Test
    void rmsNorm() {
        SplittableRandom r = new SplittableRandom(3);
        for (int[] sh : shapes(60, 389)) {
            int rows = sh[0], dim = sh[1];
            float[] x = gauss(r, rows * dim, 2);
            float[] w = gauss(r, dim, 1);
            float eps = 1e-5f;
            String at = " rows " + rows + " dim " + dim;
            // float sum of squares over <= 389 values and two float products: rel 1e-5.
            check("rmsNormForward" + at, run(k -> {
                float[] o = new float[rows * dim];
                float[] rstd = new float[rows];
                k.rmsNormForward(o, rstd, x, w, rows, dim, eps);
                return out(o, rstd);
            }), 1e-5, 1e-6);
            float[] rstd = new float[rows];
            SCALAR.rmsNormForward(new float[rows * dim], rstd, x, w, rows, dim, eps);
            float[] dout = gauss(r, rows * dim, 1);
            float[] dx0 = gauss(r, rows * dim, 1);
            float[] dw0 = gauss(r, dim, 1);
            for (boolean overwrite : new boolean[] {false, true}) {
                // dx = rstd (g - x rstd^2 s / dim) cancels: absolute 1e-5 of the O(1) terms.
                check("rmsNormBackward" + at + (overwrite ? " overwrite" : ""), run(k -> {
                    float[] dx = c(dx0);
                    float[] dw = c(dw0);
                    k.rmsNormBackward(dx, dw, dout, x, overwrite ? null : w, rstd, rows, dim, overwrite);
                    return out(dx, dw);
                }), 1e-5, 1e-5);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Softmax
    // ------------------------------------------------------------------------------------------------

    /** Scores with a large common offset, some -inf entries, and (in rows of 3 or more) an all -inf row. */
    static float[] scores(SplittableRandom r, int rows, int cols) {
        float[] x = gauss(r, rows * cols, 3);
        for (int i = 0; i < x.length; i++) {
            x[i] += 50f;
            if (cols > 2 && r.nextInt(7) == 0) {
                x[i] = Float.NEGATIVE_INFINITY;
            }
        }
        if (rows >= 3) {
            Arrays.fill(x, cols, 2 * cols, Float.NEGATIVE_INFINITY);
        }
        return x;
    }

    @Test
    void softmax() {
        SplittableRandom r = new SplittableRandom(4);
        for (int[] sh : shapes(50, 389)) {
            int rows = sh[0], cols = sh[1];
            String at = " rows " + rows + " cols " + cols;
            float[] x = scores(r, rows, cols);
            // Probabilities in [0, 1] from a float expf (about 1 ulp) and a float lane sum of <= 389 terms:
            // rel 1e-5, and abs 1e-7 for the tiny ones (far below anything a probability is used for).
            check("softmaxForward" + at, run(k -> {
                float[] o = new float[rows * cols];
                k.softmaxForward(o, x, rows, cols);
                return out(o);
            }), 1e-5, 1e-7);
            float[] y = new float[rows * cols];
            SCALAR.softmaxForward(y, x, rows, cols);
            float[] dout = gauss(r, rows * cols, 1);
            float[] dx0 = gauss(r, rows * cols, 1);
            // y (dout - dot): dot is a float sum of <= 389 terms of size <= |dout|: abs 1e-6.
            check("softmaxBackward" + at, run(k -> {
                float[] dx = c(dx0);
                k.softmaxBackward(dx, y, dout, rows, cols);
                return out(dx);
            }), 1e-5, 1e-6);
            check("softmaxBackwardRowsLocal" + at, run(k -> {
                float[] g = c(dout);
                float[] yy = new float[rows * cols + 3];
                System.arraycopy(y, 0, yy, 3, y.length);
                k.softmaxBackwardRowsLocal(yy, 3, g, 0, rows, cols);
                return out(g);
            }), 1e-5, 1e-6);
            float[] bias = uniform(r, cols + 2, -2, 2);
            bias[2] = -1e30f; // a masked key
            for (int visible0 : new int[] {cols, 1, Math.max(1, cols / 2)}) {
                for (boolean withBias : new boolean[] {false, true}) {
                    check("softmaxRowsLocal" + at + " visible0 " + visible0 + (withBias ? " bias" : ""), run(k -> {
                        float[] a = new float[rows * cols + 1];
                        System.arraycopy(x, 0, a, 1, x.length);
                        k.softmaxRowsLocal(a, 1, rows, cols, visible0, withBias ? bias : null, 2);
                        return out(a);
                    }), 1e-5, 1e-7);
                }
            }
            for (int row = 0; row < rows; row++) {
                int off = row * cols;
                float[] scratchS = new float[cols];
                double e = SCALAR.logSumExpLocal(x, off, cols, scratchS);
                double a1 = ONE.logSumExpLocal(x, off, cols, new float[cols]);
                double a2 = TWO.logSumExpLocal(x, off, cols, new float[cols]);
                assertEquals(Double.doubleToRawLongBits(a1), Double.doubleToRawLongBits(a2), "logSumExpLocal threads");
                // expf to about 1 ulp, summed in double: 1e-6 relative to the result (about 50 here).
                if (e != a1) {
                    assertEquals(e, a1, 1e-6 * Math.abs(e), "logSumExpLocal" + at + " row " + row);
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Activations
    // ------------------------------------------------------------------------------------------------

    static float[] activations(SplittableRandom r, int n) {
        float[] x = gauss(r, n, 3);
        float[] special = {0f, -0f, 1e-30f, -1e-30f, -0.75f, -13.2f, -13.3f, -20f, 9.5f, 40f, -90f};
        for (int i = 0; i < Math.min(n, special.length); i++) {
            x[(i * 7919) % n] = special[i];
        }
        return x;
    }

    @Test
    void gelu() {
        SplittableRandom r = new SplittableRandom(5);
        List<Integer> ns = new ArrayList<>();
        for (int n : LENGTHS) {
            ns.add(n);
        }
        ns.add(20_011);
        for (int n : ns) {
            float[] x = activations(r, n);
            float[] dout = gauss(r, n, 1);
            float[] dx0 = gauss(r, n, 1);
            // VectorGelu's documented accuracy: forward within 4e-7 relative where Phi is a normal float (and
            // 2e-38 absolute beyond), the factor Phi + x phi within 1.5e-7 absolute plus 6e-7 relative.
            check("geluForward n " + n, run(k -> {
                float[] o = new float[n];
                k.geluForward(o, x, n);
                return out(o);
            }), 1e-6, 1e-37);
            for (boolean acc : new boolean[] {true, false}) {
                check("geluBackward n " + n + (acc ? "" : " in place"), run(k -> {
                    float[] dx = acc ? c(dx0) : c(dout);
                    k.geluBackward(dx, x, acc ? dout : dx, n, acc);
                    return out(dx);
                }), 2e-6, 1e-6);
            }
        }
    }

    @Test
    void swiglu() {
        SplittableRandom r = new SplittableRandom(6);
        List<Integer> ns = new ArrayList<>();
        for (int n : LENGTHS) {
            ns.add(n);
        }
        ns.add(20_011);
        for (int n : ns) {
            float[] g = activations(r, n);
            float[] up = gauss(r, n, 2);
            float[] dh = gauss(r, n, 1);
            // expf (about 1 ulp), one division and a few products: rel 2e-6. dGate's 1 + g (1 - s) crosses zero
            // near g = -1.28, where the float form loses digits to cancellation: abs 1e-5 of |dh up| ~ O(1).
            check("swigluForward n " + n, run(k -> {
                float[] h = new float[n];
                k.swigluForward(h, g, up, n);
                return out(h);
            }), 2e-6, 1e-7);
            check("swigluBackward n " + n, run(k -> {
                float[] dGate = new float[n];
                float[] dUp = new float[n];
                k.swigluBackward(dGate, dUp, dh, g, up, n);
                return out(dGate, dUp);
            }), 2e-6, 1e-5);
            check("swigluBackward (dGate in dh) n " + n, run(k -> {
                float[] d = c(dh);
                k.swigluBackward(d, null, d, g, up, n);
                return out(d);
            }), 2e-6, 1e-5);
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Dropout: the mask is part of the contract, so everything is exact
    // ------------------------------------------------------------------------------------------------

    static float[] words(long[] keep) {
        float[] f = new float[keep.length * 2];
        for (int i = 0; i < keep.length; i++) {
            f[2 * i] = Float.intBitsToFloat((int) keep[i]);
            f[2 * i + 1] = Float.intBitsToFloat((int) (keep[i] >>> 32));
        }
        return f;
    }

    @Test
    void dropout() {
        SplittableRandom r = new SplittableRandom(7);
        List<Integer> ns = new ArrayList<>();
        for (int n : LENGTHS) {
            ns.add(n);
        }
        ns.add(64);
        ns.add(65);
        ns.add(20_011);
        for (int n : ns) {
            for (float p : new float[] {0f, 0.1f, 0.5f, 1f}) {
                float[] in = gauss(r, n, 1);
                float[] dout = gauss(r, n, 1);
                float[] din0 = gauss(r, n, 1);
                long seed = r.nextLong();
                long stream = r.nextInt(1 << 20);
                String at = " n " + n + " p " + p;
                // The same mask and one float product per kept element: exact.
                check("dropoutForward" + at, run(k -> {
                    float[] o = new float[n];
                    k.dropoutForward(o, in, n, p, seed, stream, null);
                    return out(o);
                }), 0, 0);
                check("dropoutForward (recorded) and dropoutBackwardMasked (written)" + at, run(k -> {
                    float[] o = new float[n];
                    long[] keep = new long[(n + 63) / 64];
                    k.dropoutForward(o, in, n, p, seed, stream, keep);
                    float[] dw = new float[n];
                    k.dropoutBackwardMasked(dw, dout, n, p, keep, false);
                    return out(o, words(keep), dw);
                }), 0, 0);
                // Accumulating: a float product then a float add, against one rounding: rel 1e-6, abs 1e-7.
                check("dropoutBackwardMasked (accumulated)" + at, run(k -> {
                    float[] o = new float[n];
                    long[] keep = new long[(n + 63) / 64];
                    k.dropoutForward(o, in, n, p, seed, stream, keep);
                    float[] din = c(din0);
                    k.dropoutBackwardMasked(din, dout, n, p, keep, true);
                    return out(din);
                }), 1e-6, 1e-7);
                check("dropoutBackward" + at, run(k -> {
                    float[] din = c(din0);
                    k.dropoutBackward(din, dout, n, p, seed, stream);
                    return out(din);
                }), 1e-6, 1e-7);
            }
        }
    }

    /**
     * The index offset of a shard of a batch: a tensor's dropout over [0, n) is exactly two calls, [0, m) with
     * first 0 and [m, n) with first m, on every backend (forward, recorded forward with its mask applied
     * backward, and the hashing backward); first = 0 is the plain call.
     */
    @Test
    void dropoutOffsetSplitsATensorExactly() {
        SplittableRandom r = new SplittableRandom(17);
        for (int n : new int[] {1, 7, 64, 65, 389, 20_011, 40_000}) {
            for (float p : new float[] {0f, 0.1f, 0.5f}) {
                float[] in = gauss(r, n, 1);
                float[] dout = gauss(r, n, 1);
                float[] din0 = gauss(r, n, 1);
                long seed = r.nextLong();
                long stream = r.nextInt(1 << 20);
                int m = n == 1 ? 0 : 1 + r.nextInt(n - 1);
                String at = " n " + n + " m " + m + " p " + p;
                for (Kernels k : List.of(SCALAR, ONE, TWO)) {
                    float[] whole = new float[n];
                    k.dropoutForward(whole, in, n, p, seed, stream, null);
                    float[] zeroFirst = new float[n];
                    k.dropoutForward(zeroFirst, in, n, p, seed, stream, 0L, null);
                    assertArrayEquals(bits(whole), bits(zeroFirst), "first = 0 is the plain call" + at);
                    float[] a = java.util.Arrays.copyOfRange(in, 0, m);
                    float[] b = java.util.Arrays.copyOfRange(in, m, n);
                    float[] oa = new float[m];
                    float[] ob = new float[n - m];
                    long[] ka = new long[(m + 63) / 64];
                    long[] kb = new long[(n - m + 63) / 64];
                    k.dropoutForward(oa, a, m, p, seed, stream, 0L, ka);
                    k.dropoutForward(ob, b, n - m, p, seed, stream, m, kb);
                    float[] joined = new float[n];
                    System.arraycopy(oa, 0, joined, 0, m);
                    System.arraycopy(ob, 0, joined, m, n - m);
                    assertArrayEquals(bits(whole), bits(joined), k.getClass().getSimpleName() + " forward" + at);
                    // The recorded bits of the second part are its own elements' (bit i: the mask of m + i).
                    long[] kw = new long[(n + 63) / 64];
                    k.dropoutForward(new float[n], in, n, p, seed, stream, kw);
                    for (int i = 0; i < n; i++) {
                        boolean w = (kw[i >>> 6] >>> (i & 63) & 1L) != 0;
                        boolean part = i < m ? (ka[i >>> 6] >>> (i & 63) & 1L) != 0
                                : (kb[(i - m) >>> 6] >>> ((i - m) & 63) & 1L) != 0;
                        assertEquals(w, part, "recorded mask of element " + i + at);
                    }
                    float[] dWhole = c(din0);
                    k.dropoutBackward(dWhole, dout, n, p, seed, stream);
                    float[] dSplitA = java.util.Arrays.copyOfRange(din0, 0, m);
                    float[] dSplitB = java.util.Arrays.copyOfRange(din0, m, n);
                    k.dropoutBackward(dSplitA, java.util.Arrays.copyOfRange(dout, 0, m), m, p, seed, stream, 0L);
                    k.dropoutBackward(dSplitB, java.util.Arrays.copyOfRange(dout, m, n), n - m, p, seed, stream, m);
                    float[] dJoined = new float[n];
                    System.arraycopy(dSplitA, 0, dJoined, 0, m);
                    System.arraycopy(dSplitB, 0, dJoined, m, n - m);
                    assertArrayEquals(bits(dWhole), bits(dJoined), k.getClass().getSimpleName() + " backward" + at);
                }
                check("dropoutForward with an offset" + at, run(k -> {
                    float[] o = new float[n];
                    long[] keep = new long[(n + 63) / 64];
                    k.dropoutForward(o, in, n, p, seed, stream, 12_345L, keep);
                    return out(o, words(keep));
                }), 0, 0);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Element-wise, broadcast, reduction, embedding
    // ------------------------------------------------------------------------------------------------

    @Test
    void elementwise() {
        SplittableRandom r = new SplittableRandom(8);
        List<Integer> ns = new ArrayList<>();
        for (int n : LENGTHS) {
            ns.add(n);
        }
        ns.add(40_009);
        for (int n : ns) {
            float[] a = gauss(r, n + 5, 1);
            float[] b = gauss(r, n + 5, 1);
            float f = (float) r.nextDouble();
            // One float add or product per element on both backends: exact.
            check("add n " + n, run(k -> {
                float[] o = new float[n];
                k.add(o, a, b, n);
                return out(o);
            }), 0, 0);
            check("accumulate n " + n, run(k -> {
                float[] d = c(a);
                k.accumulate(d, 2, b, 5, n);
                return out(d);
            }), 0, 0);
            check("scale n " + n, run(k -> {
                float[] o = c(b);
                k.scale(o, 1, a, 4, n, f);
                return out(o);
            }), 0, 0);
            // Gathers copy and the scatter adds one float per element, on both: exact.
            int rowsG = 3;
            int[] idx = {n - 1, 0, n / 2};
            int nIdx = n >= 3 ? 3 : 1;
            check("gatherRows n " + n, run(k -> {
                float[] o = new float[nIdx * rowsG];
                float[] src = c(a);
                float[] big = new float[n * rowsG];
                for (int i = 0; i < big.length; i++) {
                    big[i] = src[i % src.length] + i;
                }
                k.gatherRows(o, big, rowsG, idx, nIdx);
                return out(o);
            }), 0, 0);
            check("gatherColumns n " + n, run(k -> {
                float[] o = new float[rowsG * nIdx];
                float[] big = new float[rowsG * n];
                for (int i = 0; i < big.length; i++) {
                    big[i] = a[i % n] * (i + 1);
                }
                k.gatherColumns(o, big, rowsG, n, idx, nIdx);
                return out(o);
            }), 0, 0);
            check("scatterAddColumns n " + n, run(k -> {
                float[] d = new float[rowsG * n];
                for (int i = 0; i < d.length; i++) {
                    d[i] = b[i % n] - i;
                }
                float[] src = new float[rowsG * nIdx];
                for (int i = 0; i < src.length; i++) {
                    src[i] = a[i % n] + 0.5f * i;
                }
                k.scatterAddColumns(d, n, src, rowsG, idx, nIdx);
                return out(d);
            }), 0, 0);
            // tanh in double, rounded once, on both: exact. Its backward: two float products and a subtraction
            // against double arithmetic, a few ulp.
            check("tanh n " + n, run(k -> {
                float[] o = new float[n];
                k.tanhForward(o, a, n);
                return out(o);
            }), 0, 0);
            check("tanh backward n " + n, run(k -> {
                float[] y = new float[n];
                k.tanhForward(y, a, n);
                float[] d = new float[n];
                k.tanhBackward(d, y, b, n);
                return out(d);
            }), 1e-7, 1e-6);
            check("scale in place n " + n, run(k -> {
                float[] o = c(a);
                k.scale(o, 0, o, 0, n, f);
                return out(o);
            }), 0, 0);
            double acc = r.nextDouble();
            double e = SCALAR.sumSquares(acc, a, 3, n);
            // Both backends add the squares to one double in index order: exact.
            assertEquals(Double.doubleToRawLongBits(e), Double.doubleToRawLongBits(ONE.sumSquares(acc, a, 3, n)), "sumSquares");
            assertEquals(Double.doubleToRawLongBits(e), Double.doubleToRawLongBits(TWO.sumSquares(acc, a, 3, n)), "sumSquares");
        }
        for (int[] sh : shapes(60, 389)) {
            int rows = sh[0], cols = sh[1];
            String at = " rows " + rows + " cols " + cols;
            float[] x = gauss(r, rows * cols, 1);
            float[] bias = gauss(r, cols, 1);
            for (boolean acc : new boolean[] {false, true}) {
                check("addBiasRows" + at + (acc ? " accumulate" : ""), run(k -> {
                    float[] o = c(x);
                    k.addBiasRows(o, bias, rows, cols, acc);
                    return out(o);
                }), 0, 0);
            }
            // float sums of <= 60 rows of N(0, 1) values against double: abs 1e-5.
            check("columnSums" + at, run(k -> {
                float[] db = c(bias);
                k.columnSums(db, x, rows, cols);
                return out(db);
            }), 1e-6, 1e-5);
        }
    }

    @Test
    void embedding() {
        SplittableRandom r = new SplittableRandom(9);
        for (int[] sh : shapes(90, 389)) {
            int rows = sh[0], dim = sh[1];
            int vocab = 11;
            float[] table = gauss(r, vocab * dim, 1);
            int[] ids = new int[rows];
            for (int i = 0; i < rows; i++) {
                ids[i] = r.nextInt(vocab); // repeated ids: scatter-add must sum them in row order
            }
            float[] dout = gauss(r, rows * dim, 1);
            String at = " rows " + rows + " dim " + dim;
            // A copy, and float adds in row order per table row on both backends: exact.
            check("embeddingForward" + at, run(k -> {
                float[] o = new float[rows * dim];
                k.embeddingForward(o, ids, table, rows, dim);
                return out(o);
            }), 0, 0);
            check("embeddingBackward" + at, run(k -> {
                float[] dt = c(table);
                k.embeddingBackward(dt, dout, ids, rows, dim);
                return out(dt);
            }), 0, 0);
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Losses
    // ------------------------------------------------------------------------------------------------

    @Test
    void crossEntropy() {
        SplittableRandom r = new SplittableRandom(10);
        int ignore = -100;
        // classes below 256 take the Vector API backend's double loop, from 256 on its float expf path
        for (int[] sh : new int[][] {{1, 1}, {3, 2}, {5, 3}, {4, 7}, {2, 33}, {1, 256}, {3, 389}, {70, 389}, {600, 33}}) {
            int batch = sh[0], classes = sh[1];
            String at = " batch " + batch + " classes " + classes;
            float[] logits = gauss(r, batch * classes, 4);
            int[] labels = new int[batch];
            for (int i = 0; i < batch; i++) {
                labels[i] = i % 4 == 3 ? ignore : r.nextInt(classes);
            }
            float[] means = new float[3];
            int[] at3 = {0};
            // Probabilities: float expf (about 1 ulp) normalised by a float sum of <= 389 terms: rel 1e-5, abs
            // 1e-8; the loss is logsumexp - logit (O(1 to 10)): abs 1e-5.
            check("crossEntropyForward" + at, run(k -> {
                float[] probs = new float[batch * classes];
                float[] loss = new float[batch];
                means[at3[0]++] = k.crossEntropyForward(probs, loss, logits, labels, batch, classes, ignore);
                return out(probs, loss);
            }), 1e-5, 1e-5);
            assertEquals(Float.floatToRawIntBits(means[1]), Float.floatToRawIntBits(means[2]), "mean loss threads");
            assertEquals(means[0], means[1], 1e-5 + 1e-5 * Math.abs(means[0]), "mean loss" + at);
            check("crossEntropyForward in place" + at, run(k -> {
                float[] lg = c(logits);
                float[] loss = new float[batch];
                k.crossEntropyForward(lg, loss, lg, labels, batch, classes, ignore);
                return out(lg, loss);
            }), 1e-5, 1e-5);
            float[] probs = new float[batch * classes];
            SCALAR.crossEntropyForward(probs, new float[batch], logits, labels, batch, classes, ignore);
            float f = 0.37f;
            float[] d0 = gauss(r, batch * classes, 1);
            // f (p - onehot): two float roundings against one: rel 1e-6, abs 1e-7.
            check("crossEntropyBackward" + at, run(k -> {
                float[] d = c(d0);
                k.crossEntropyBackward(d, probs, labels, batch, classes, f, ignore);
                return out(d);
            }), 1e-6, 1e-7);
            check("crossEntropyBackwardInPlace" + at, run(k -> {
                float[] p = c(probs);
                k.crossEntropyBackwardInPlace(p, labels, batch, classes, f, ignore);
                return out(p);
            }), 1e-6, 1e-7);
        }
    }

    @Test
    void meanSquaredError() {
        SplittableRandom r = new SplittableRandom(11);
        for (int n : new int[] {0, 1, 3, 17, 389}) {
            float[] pred = gauss(r, n, 2);
            float[] target = gauss(r, n, 2);
            float[] mse = new float[3];
            int[] i3 = {0};
            // Both in double, rounded once: rel 1e-6.
            check("meanSquaredErrorBackward n " + n, run(k -> {
                mse[i3[0]++] = k.meanSquaredError(pred, target, n);
                float[] d = gauss(new SplittableRandom(n), n, 1);
                k.meanSquaredErrorBackward(d, pred, target, n, 0.5f);
                return out(d);
            }), 1e-6, 1e-7);
            assertEquals(mse[0], mse[1], 1e-6 * Math.abs(mse[0]), "meanSquaredError n " + n);
        }
    }

    // ------------------------------------------------------------------------------------------------
    // RoPE
    // ------------------------------------------------------------------------------------------------

    @Test
    void rope() {
        SplittableRandom r = new SplittableRandom(12);
        for (int[] shape : new int[][] {{1, 1, 2}, {3, 2, 6}, {2, 3, 14}, {5, 1, 32}, {4, 2, 34}, {2, 1, 66}, {40, 4, 106}}) {
            int rows = shape[0], heads = shape[1], headDim = shape[2];
            int half = headDim / 2;
            int positions = 9;
            float[] cos = new float[positions * half];
            float[] sin = new float[positions * half];
            for (int i = 0; i < cos.length; i++) {
                double angle = r.nextDouble() * 2 * Math.PI;
                cos[i] = (float) Math.cos(angle);
                sin[i] = (float) Math.sin(angle);
            }
            int[] pos = new int[rows];
            for (int i = 0; i < rows; i++) {
                pos[i] = r.nextInt(positions);
            }
            float[] x = gauss(r, rows * heads * headDim, 1);
            // x1 c - x2 s with two float products and a float difference: abs 1e-6 of the O(1) terms.
            String at = " rows " + rows + " heads " + heads + " headDim " + headDim;
            check("rope" + at, run(k -> {
                float[] o = new float[x.length];
                k.rope(o, x, pos, rows, heads, headDim, cos, sin);
                return out(o);
            }), 1e-6, 1e-6);
            check("rope in place" + at, run(k -> {
                float[] o = c(x);
                k.rope(o, o, pos, rows, heads, headDim, cos, sin);
                return out(o);
            }), 1e-6, 1e-6);
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Optimizer
    // ------------------------------------------------------------------------------------------------

    @Test
    void adamw() {
        SplittableRandom r = new SplittableRandom(13);
        List<Integer> ns = new ArrayList<>();
        for (int n : LENGTHS) {
            ns.add(n);
        }
        ns.add(40_009);
        for (int n : ns) {
            float[] w = gauss(r, n, 1);
            float[] g = gauss(r, n, 1e-2);
            float[] m = gauss(r, n, 1e-2);
            float[] v = uniform(r, n, 0, 1e-4);
            // About six float roundings against one: rel 1e-6. m = b1 m + (1 - b1) g and w shrink - update may
            // cancel: abs 1e-8, 1e-6 of the O(1e-2) size of the terms.
            check("adamwUpdate n " + n, run(k -> {
                float[] ww = c(w);
                float[] mm = c(m);
                float[] vv = c(v);
                k.adamwUpdate(ww, g, mm, vv, n, 0.9f, 0.999f, 1e-8f, 1f - 1e-3f * 0.01f, 1e-3f / 0.19f, 1.7f);
                return out(ww, mm, vv);
            }), 1e-6, 1e-8);
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Adapters
    // ------------------------------------------------------------------------------------------------

    @Test
    void adapterScalings() {
        SplittableRandom r = new SplittableRandom(14);
        for (int[] sh : shapes(64, 17)) {
            int rows = sh[0], cols = sh[1];
            String at = " rows " + rows + " cols " + cols;
            float[] x = gauss(r, rows * cols, 1);
            float[] y = gauss(r, rows * cols, 1);
            for (int per : new int[] {1, 2, rows}) {
                int units = (rows + per - 1) / per;
                float[] factor = uniform(r, units, 0, 2);
                // alpha * factor then times x: two float roundings against one: rel 1e-6.
                check("scaleRows" + at + " per " + per, run(k -> {
                    float[] o = new float[rows * cols];
                    k.scaleRows(o, x, rows, cols, 0.75f, factor, per);
                    return out(o);
                }), 1e-6, 0);
                float[] dg0 = gauss(r, units, 1);
                // dots in double on both; a float add after the product against one rounding: rel 1e-6, abs 1e-7.
                check("rowDotsAccumulate" + at + " per " + per, run(k -> {
                    float[] dg = c(dg0);
                    k.rowDotsAccumulate(dg, x, y, rows, cols, 0.75f, per);
                    return out(dg);
                }), 1e-6, 1e-7);
            }
            check("scaleRows (no factor, in place)" + at, run(k -> {
                float[] o = c(x);
                k.scaleRows(o, o, rows, cols, 0.75f, null, 1);
                return out(o);
            }), 0, 0);
            float[] colScale = gauss(r, cols, 1);
            // one float product per element: exact; the column gradient is a double sum on both: rel 1e-6.
            check("scaleColumns" + at, run(k -> {
                float[] o = new float[rows * cols];
                k.scaleColumns(o, x, rows, cols, colScale);
                return out(o);
            }), 0, 0);
            float[] cg0 = gauss(r, cols, 1);
            check("scaleColumnsBackward" + at, run(k -> {
                float[] d = c(y);
                float[] cg = c(cg0);
                k.scaleColumnsBackward(d, x, colScale, rows, cols, 0.3f, cg);
                return out(d, cg);
            }), 1e-6, 1e-7);
        }
    }

    @Test
    void gate() {
        SplittableRandom r = new SplittableRandom(15);
        for (int[] shape : new int[][] {{1, 1, 1}, {3, 1, 7}, {2, 5, 16}, {4, 3, 17}, {2, 7, 33}, {3, 4, 389}, {16, 1, 96}}) {
            int units = shape[0], unitRows = shape[1], in = shape[2];
            int rows = units * unitRows;
            String at = " units " + units + " unitRows " + unitRows + " in " + in;
            float[] x = gauss(r, rows * in, 1);
            int[] mask = new int[rows];
            for (int i = 0; i < rows; i++) {
                mask[i] = r.nextInt(4) == 0 ? 0 : 1;
            }
            mask[0] = 0;
            if (unitRows > 1) {
                Arrays.fill(mask, 0, unitRows, 0); // a unit with no real row
            }
            float[] w = gauss(r, in, 0.5);
            float bias = 0.3f;
            float eps = 1e-6f;
            // The mean of <= 7 rows in float and one float division against double: rel 1e-5, abs 1e-6; gate
            // and rms from double sums on both: rel 1e-6.
            // A centred gate (Dynamic LoRA's --gate-centre) subtracts a constant vector from each real unit's mean.
            float[] centre = gauss(r, in, 0.7);
            check("gateForward centred" + at, run(k -> {
                float[] gate = new float[units];
                float[] normed = new float[units * in];
                float[] rms = new float[units];
                int[] counts = new int[units];
                k.gateForward(gate, normed, rms, counts, x, mask, units, unitRows, in, w, bias, centre, eps);
                return out(gate, normed, rms);
            }), 1e-5, 1e-6);
            List<List<float[]>> fwd = run(k -> {
                float[] gate = new float[units];
                float[] normed = new float[units * in];
                float[] rms = new float[units];
                int[] counts = new int[units];
                k.gateForward(gate, normed, rms, counts, x, mask, units, unitRows, in, w, bias, null, eps);
                float[] cf = new float[units];
                for (int e = 0; e < units; e++) {
                    cf[e] = counts[e];
                }
                return out(gate, normed, rms, cf);
            });
            check("gateForward" + at, fwd, 1e-5, 1e-6);
            float[] gate = fwd.get(0).get(0);
            float[] normed = fwd.get(0).get(1);
            float[] rms = fwd.get(0).get(2);
            int[] counts = new int[units];
            for (int e = 0; e < units; e++) {
                counts[e] = (int) fwd.get(0).get(3)[e];
            }
            float[] dGate = gauss(r, units, 1);
            float[] dx0 = gauss(r, rows * in, 1);
            float[] dw0 = gauss(r, in, 1);
            // float products and a float sum over units against double: rel 1e-5, abs 1e-6.
            for (boolean withDx : new boolean[] {true, false}) {
                check("gateBackward" + at + (withDx ? "" : " no dx"), run(k -> {
                    float[] dx = withDx ? c(dx0) : null;
                    float[] dw = c(dw0);
                    float[] db = {0.25f};
                    k.gateBackward(dx, dw, db, dGate, gate, normed, rms, counts, w, mask, units, unitRows, in);
                    return out(dx, dw, db);
                }), 1e-5, 1e-6);
            }
        }
    }
}
