package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;

/**
 * The gated activation of Llama's MLP: h = silu(gate) * up, elementwise, with silu(g) = g * sigmoid(g).
 * (The gate_proj / up_proj / down_proj projections around it are the model's linear modules.) Checks the
 * shapes and runs {@link Kernels#swigluForward} and {@link Kernels#swigluBackward}.
 *
 * <p>Backward: dUp = dh * silu(g), dGate = dh * up * silu'(g), silu'(g) = s (1 + g (1 - s)), s = sigmoid(g).
 * Nothing is saved beyond the caller's gate and up: backward recomputes the sigmoid, which is cheaper than
 * streaming a third intermediate-sized buffer through memory.
 */
public final class SwiGlu {

    private SwiGlu() {
    }

    /** h[i] = silu(gate[i]) * up[i] for i in [0, n). h may be the same array as gate or up. */
    public static void forward(Kernels k, float[] h, float[] gate, float[] up, int n) {
        Checks.nonNegative(n, "n");
        Checks.len(h, n, "h");
        Checks.len(gate, n, "gate");
        Checks.len(up, n, "up");
        k.swigluForward(h, gate, up, n);
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
        k.swigluBackward(dGate, dUp, dh, gate, up, n);
    }

    /** silu(g) in double: the reference for the tests. */
    static double silu(double g) {
        return g / (1 + Math.exp(-g));
    }
}
