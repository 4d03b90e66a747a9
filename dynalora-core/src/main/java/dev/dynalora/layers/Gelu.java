package dev.dynalora.layers;

import dev.dynalora.kernels.Erf;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.kernels.vector.VectorGelu;

/**
 * BERT's exact "gelu" activation: gelu(x) = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), elementwise on a flat
 * array (not the tanh approximation, which Hugging Face calls "gelu_new"/"gelu_pytorch_tanh"). Checks the
 * shapes and runs {@link Kernels#geluForward} and {@link Kernels#geluBackward}; the default backend's float
 * evaluation and its accuracy are described in {@link VectorGelu}.
 *
 * <p>The scalar double versions ({@link #gelu}, {@link #geluGrad}, {@link #forwardExact},
 * {@link #backwardExact}) are the correctly rounded reference, kept for the tests.
 */
public final class Gelu {

    private Gelu() {
    }

    private static final double INV_SQRT2 = 0.70710678118654752440;
    private static final double INV_SQRT_2PI = 0.39894228040143267794;

    /** out[i] = gelu(x[i]) for i in [0, n). out may be the same array as x (in place). */
    public static void forward(Kernels k, float[] out, float[] x, int n) {
        Checks.nonNegative(n, "n");
        Checks.len(out, n, "out");
        Checks.len(x, n, "x");
        k.geluForward(out, x, n);
    }

    /**
     * dx[i] += dout[i] * gelu'(x[i]) with the exact derivative Phi(x) + x phi(x), where x is the saved
     * pre-activation input. No-op when dx is null.
     */
    public static void backward(Kernels k, float[] dx, float[] x, float[] dout, int n) {
        if (dx == null) {
            return;
        }
        Checks.nonNegative(n, "n");
        Checks.len(dx, n, "dx");
        Checks.len(x, n, "x");
        Checks.len(dout, n, "dout");
        k.geluBackward(dx, x, dout, n, true);
    }

    /**
     * d[i] = d[i] * gelu'(x[i]) in place: the gradient with respect to the output turned into the gradient
     * with respect to the input, without a zero-filled buffer to accumulate into (the model's FFN backward
     * uses this on its 6.3M-element activation gradient).
     */
    public static void backwardInPlace(Kernels k, float[] x, float[] d, int n) {
        Checks.nonNegative(n, "n");
        Checks.len(x, n, "x");
        Checks.len(d, n, "d");
        k.geluBackward(d, x, d, n, false);
    }

    /** gelu(x) in double, correctly rounded to float in practice: the reference the float kernel is tested against. */
    public static double gelu(double x) {
        return 0.5 * x * Erf.erfcForFloat(-x * INV_SQRT2);
    }

    /** d gelu / dx = Phi(x) + x phi(x) in double: the reference for the float backward factor. */
    public static double geluGrad(double x) {
        double cdf = 0.5 * Erf.erfcForFloat(-x * INV_SQRT2);
        double pdf = INV_SQRT_2PI * Math.exp(-0.5 * x * x);
        return cdf + x * pdf;
    }

    /** The former array forward, in double through {@link Erf} (about 35 ns per element): a test reference. */
    static void forwardExact(float[] out, float[] x, int n) {
        for (int i = 0; i < n; i++) {
            out[i] = (float) gelu(x[i]);
        }
    }

    /** The former array backward in double: a test reference. */
    static void backwardExact(float[] dx, float[] x, float[] dout, int n) {
        for (int i = 0; i < n; i++) {
            dx[i] += (float) (geluGrad(x[i]) * dout[i]);
        }
    }

    /** Phi(x) (grad false) or Phi(x) + x phi(x) (grad true) as the default backend computes them: for the tests. */
    static float cdf(float x, boolean grad) {
        return VectorGelu.cdf(x, grad);
    }
}
