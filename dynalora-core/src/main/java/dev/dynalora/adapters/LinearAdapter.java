package dev.dynalora.adapters;

import dev.dynalora.kernels.Kernels;
import dev.dynalora.tensor.Param;

import java.util.List;

/**
 * Something added to the output of a frozen (or trainable) linear layer y = W x + b. LoRA, AdaLoRA and
 * Dynamic LoRA implement it; the model calls it after the base linear op. An adapter keeps what it needs for
 * its backward pass from the last forward pass (buffers allocated once per shape, not per step).
 */
public interface LinearAdapter {

    /** y[rows, out] += adapter(x[rows, in]). */
    void forward(Kernels k, float[] x, float[] y, TokenBatch batch);

    /**
     * Given dy for the last forward, accumulates the adapter's parameter gradients and, when dx is not null,
     * dx[rows, in] += d(adapter)/dx^T dy.
     */
    void backward(Kernels k, float[] x, float[] dy, float[] dx, TokenBatch batch);

    /** The adapter's trainable parameters. */
    List<Param> params();

    /**
     * Adds the adapter's effect into the base weight W[out, in] (merge). Throws UnsupportedOperationException
     * when the adapter is not a fixed linear map (a per-example gate).
     */
    void mergeInto(float[] weight);
}
