package dev.dynalora.models.llama;

import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.models.LinearModule;
import dev.dynalora.training.AdaptiveOptions;
import dev.dynalora.training.Method;
import dev.dynalora.training.MethodSetup;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Dynamic LoRA on a decoder stays causal: changing a later token leaves every earlier position's logits
 * exactly as they were. Its input gate is what could break this (a gate from the mean over the sequence
 * carries later tokens into earlier positions), so on a causal model it is computed per token; the control
 * case switches a per-sequence gate back on and shows the test would catch the leak.
 */
class DynamicLoraCausalityTest {
    static final int T = 9;
    static final int CHANGED = 5;

    static LlamaForCausalLM gatedModel(Path dir) throws Exception {
        LlamaForCausalLM m = TinyLlama.model(TinyLlama.config(dir, true), 3);
        AdaptiveOptions d = AdaptiveOptions.defaults(2);
        MethodSetup.apply(m, Method.DYNAMIC, LoraConfig.of(2, 4, "q_proj,v_proj,down_proj", false, 0f, 1), d);
        SplittableRandom r = new SplittableRandom(5);
        for (LinearModule lm : m.linearModules()) {
            if (lm.adapter() instanceof LoraAdapter a) {
                assertTrue(a.gated(), "the dynamic method's default has a gate");
                for (float[] x : new float[][] {a.loraB().data(), a.gateWeight().data(), a.gateBias().data()}) {
                    for (int i = 0; i < x.length; i++) {
                        x[i] = (float) (r.nextDouble() * 2 - 1);
                    }
                }
            }
        }
        return m;
    }

    static float[] logits(LlamaForCausalLM m, int[] ids) {
        int[] mask = new int[T];
        Arrays.fill(mask, 1);
        try (CpuKernels k = new CpuKernels(1)) {
            return m.forward(k, ids, new TokenBatch(1, T, mask, false, 0, 0), false).clone();
        }
    }

    static boolean[] samePositions(LlamaForCausalLM m) {
        int[] a = {1, 7, 3, 11, 20, 4, 9, 13, 6};
        int[] b = a.clone();
        b[CHANGED] = 17;
        float[] la = logits(m, a);
        float[] lb = logits(m, b);
        int v = m.vocabSize();
        boolean[] same = new boolean[T];
        for (int t = 0; t < T; t++) {
            same[t] = Arrays.equals(Arrays.copyOfRange(la, t * v, (t + 1) * v), Arrays.copyOfRange(lb, t * v, (t + 1) * v));
        }
        return same;
    }

    @Test
    void aLaterTokenNeverChangesAnEarlierPosition(@TempDir Path dir) throws Exception {
        LlamaForCausalLM m = gatedModel(dir);
        for (LinearModule lm : m.linearModules()) {
            if (lm.adapter() instanceof LoraAdapter a) {
                assertTrue(a.gatePerToken(), lm.name() + ": a causal model's gate must be per token");
            }
        }
        boolean[] same = samePositions(m);
        boolean[] expected = new boolean[T];
        Arrays.fill(expected, 0, CHANGED, true);
        assertArrayEquals(expected, same, "positions before " + CHANGED + " must be unchanged, later ones changed");
    }

    @Test
    void aPerSequenceGateWouldLeakTheFutureIntoThePast(@TempDir Path dir) throws Exception {
        LlamaForCausalLM m = gatedModel(dir);
        for (LinearModule lm : m.linearModules()) {
            if (lm.adapter() instanceof LoraAdapter a) {
                a.setGatePerToken(false);
            }
        }
        boolean[] same = samePositions(m);
        assertFalse(same[0], "with a gate from the sequence mean, position 0 sees the changed token");
    }
}
