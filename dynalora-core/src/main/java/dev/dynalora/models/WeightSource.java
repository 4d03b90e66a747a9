package dev.dynalora.models;

import dev.dynalora.tensor.Param;

/**
 * Where a model's parameters come from: a checkpoint on disk, or fresh random values (tests). The model
 * asks for each tensor by its Hugging Face name and expected shape; the source checks the shape.
 */
public interface WeightSource {

    /** The parameter called name with the given shape (frozen by default; training decides what trains). */
    Param param(String name, int... shape);

    /** Whether this source holds the named tensor (a checkpoint may lack a pooler or classifier). */
    default boolean has(String name) {
        return true;
    }

    /** A linear layer name.weight [out, in] and name.bias [out]. */
    default LinearModule linear(String name, int in, int out) {
        return new LinearModule(name, param(name + ".weight", out, in), param(name + ".bias", out));
    }

    /**
     * A linear layer name.weight [out, in], with name.bias [out] only when {@code bias}: Llama's projections
     * have none (attention_bias and mlp_bias are false), and asking for a bias the checkpoint lacks would fail.
     */
    default LinearModule linear(String name, int in, int out, boolean bias) {
        return bias ? linear(name, in, out) : new LinearModule(name, param(name + ".weight", out, in), null);
    }
}
