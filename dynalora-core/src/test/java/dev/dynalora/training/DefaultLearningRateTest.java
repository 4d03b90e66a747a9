package dev.dynalora.training;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The learning rates a run gets when none is given, per method and model kind: the ones BENCHMARKS.md's runs
 * support (AdaLoRA's higher: at LoRA's rates its zero-initialised singular values barely move).
 */
class DefaultLearningRateTest {
    @Test
    void encoders() {
        assertEquals(5e-4, Method.LORA.defaultLearningRate());
        assertEquals(5e-4, Method.DYNAMIC.defaultLearningRate());
        assertEquals(5e-4, Method.HEAD.defaultLearningRate());
        assertEquals(2e-3, Method.ADALORA.defaultLearningRate());
        assertEquals(5e-5, Method.FULL.defaultLearningRate());
    }

    @Test
    void decoders() {
        assertEquals(1e-3, CausalLmRuns.defaultLearningRate(Method.LORA));
        assertEquals(1e-3, CausalLmRuns.defaultLearningRate(Method.DYNAMIC));
        assertEquals(5e-3, CausalLmRuns.defaultLearningRate(Method.ADALORA));
        assertEquals(5e-5, CausalLmRuns.defaultLearningRate(Method.FULL));
    }
}
