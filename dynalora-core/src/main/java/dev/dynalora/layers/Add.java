package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;

/**
 * Elementwise sum, for residual connections and for summing word + position + token-type embeddings.
 * Backward of a sum just passes the gradient to both inputs; {@link #accumulate} is that step. Checks the
 * sizes and runs {@link Kernels#add} and {@link Kernels#accumulate}.
 */
public final class Add {

    private Add() {
    }

    /** out[i] = a[i] + b[i] for i in [0, n). out may be the same array as a or b. */
    public static void forward(Kernels k, float[] out, float[] a, float[] b, int n) {
        Checks.nonNegative(n, "n");
        Checks.len(out, n, "out");
        Checks.len(a, n, "a");
        Checks.len(b, n, "b");
        k.add(out, a, b, n);
    }

    /** da += dout and db += dout; either may be null (skipped). */
    public static void backward(Kernels k, float[] da, float[] db, float[] dout, int n) {
        accumulate(k, da, dout, n);
        accumulate(k, db, dout, n);
    }

    /** dst[i] += src[i] for i in [0, n). No-op when dst is null. */
    public static void accumulate(Kernels k, float[] dst, float[] src, int n) {
        if (dst == null) {
            return;
        }
        Checks.nonNegative(n, "n");
        Checks.len(dst, n, "dst");
        Checks.len(src, n, "src");
        k.accumulate(dst, 0, src, 0, n);
    }
}
