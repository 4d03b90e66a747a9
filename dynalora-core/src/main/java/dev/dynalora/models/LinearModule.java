package dev.dynalora.models;

import dev.dynalora.adapters.LinearAdapter;
import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.layers.Linear;
import dev.dynalora.tensor.Param;

/**
 * A linear layer of a model, y = x W^T + b with W stored [out, in] as Hugging Face stores it, plus an
 * optional adapter (LoRA and friends) whose output is added to y. {@code name} is the Hugging Face module
 * path (for example {@code encoder.layer.0.attention.self.query}), which adapter targeting and PEFT file
 * keys are built from.
 */
public final class LinearModule {
    private final String name;
    private final Param weight;
    private final Param bias;
    private final int in;
    private final int out;
    private LinearAdapter adapter;

    public LinearModule(String name, Param weight, Param bias) {
        this.name = name;
        this.weight = weight;
        this.bias = bias;
        this.out = weight.value().dim(0);
        this.in = weight.value().dim(1);
    }

    public String name() {
        return name;
    }

    /** The short name PEFT's target_modules matches: the last path component (query, value, dense...). */
    public String shortName() {
        return name.substring(name.lastIndexOf('.') + 1);
    }

    public Param weight() {
        return weight;
    }

    public Param bias() {
        return bias;
    }

    public int in() {
        return in;
    }

    public int out() {
        return out;
    }

    public LinearAdapter adapter() {
        return adapter;
    }

    public void setAdapter(LinearAdapter adapter) {
        this.adapter = adapter;
    }

    /**
     * Whether backward has anything to do when no input gradient is wanted (dx null): a trainable weight or
     * bias, or an adapter. When not, the caller may skip computing this module's output gradient at all.
     */
    public boolean needsGradientWithoutInput() {
        return adapter != null || weight.trainable() || (bias != null && bias.trainable());
    }

    public void forward(Kernels k, float[] x, float[] y, TokenBatch batch) {
        Linear.forward(k, y, x, weight.data(), bias == null ? null : bias.data(), batch.rows(), in, out);
        if (adapter != null) {
            adapter.forward(k, x, y, batch);
        }
    }

    /** Accumulates dx (when not null) and the gradients of whatever is trainable here. */
    public void backward(Kernels k, float[] x, float[] dy, float[] dx, TokenBatch batch) {
        Linear.backward(k, dx, weight.grad(), bias == null ? null : bias.grad(), dy, x, weight.data(), batch.rows(), in, out);
        if (adapter != null) {
            adapter.backward(k, x, dy, dx, batch);
        }
    }
}
