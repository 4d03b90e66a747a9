package dev.dynalora.models;

import dev.dynalora.tensor.Param;
import dev.dynalora.tensor.Tensor;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Fresh parameters initialised as Hugging Face's BertPreTrainedModel._init_weights does: weights and
 * embeddings normal(0, initializer_range), biases zero, LayerNorm weight one. Used for heads a checkpoint
 * lacks (pooler, classifier) and for tests on random small models.
 */
public final class RandomWeights implements WeightSource {
    private final SplittableRandom rng;
    private final double std;

    public RandomWeights(long seed, double std) {
        this.rng = new SplittableRandom(seed);
        this.std = std;
    }

    @Override
    public Param param(String name, int... shape) {
        Tensor t = Tensor.zeros(shape);
        float[] d = t.data();
        if (name.endsWith("LayerNorm.weight")) {
            Arrays.fill(d, 1f);
        } else if (!name.endsWith("bias")) {
            for (int i = 0; i < d.length; i++) {
                d[i] = (float) (gaussian() * std);
            }
        }
        return new Param(name, t, false);
    }

    private double gaussian() {
        // Box-Muller on SplittableRandom: deterministic for a seed on every JDK.
        double u1 = rng.nextDouble();
        double u2 = rng.nextDouble();
        return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
    }
}
