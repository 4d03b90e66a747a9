package dev.dynalora.training;

import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.models.bert.SequenceClassifier;
import dev.dynalora.models.TinyBert;
import dev.dynalora.tensor.Param;
import dev.dynalora.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A parameter with its own learning-rate ratio updates exactly as AdamW at ratio * lr would update it alone;
 * ratio 1 changes nothing; Dynamic LoRA's optimizer puts exactly the gate weights (not the biases) in that group.
 */
class AdamWLearningRateGroupTest {

    private static Param param(String name, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[37];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return new Param(name, new Tensor(new int[] {v.length}, v), true);
    }

    private static void fillGrad(Param p, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] g = p.grad();
        for (int i = 0; i < g.length; i++) {
            g[i] = (float) r.nextGaussian();
        }
    }

    @Test
    void scaledParameterMatchesAdamWAtTheScaledRate() {
        Param a = param("x.weight", 1);
        Param b = param("y.weight", 2);
        Param aAlone = param("x.weight", 1);
        Param bAlone = param("y.weight", 2);
        AdamW grouped = new AdamW(List.of(a, b), 0.01f);
        assertEquals(1, grouped.scaleLearningRate(p -> p == a, 0.25));
        AdamW scaledAlone = new AdamW(List.of(aAlone), 0.01f);
        AdamW plainAlone = new AdamW(List.of(bAlone), 0.01f);
        for (int step = 0; step < 5; step++) {
            for (Param p : List.of(a, aAlone)) {
                fillGrad(p, 10 + step);
            }
            for (Param p : List.of(b, bAlone)) {
                fillGrad(p, 20 + step);
            }
            grouped.step(2e-3f);
            scaledAlone.step(2e-3f * 0.25f);
            plainAlone.step(2e-3f);
        }
        assertArrayEquals(aAlone.data(), a.data(), "scaled parameter");
        assertArrayEquals(bAlone.data(), b.data(), "unscaled parameter");
    }

    @Test
    void ratioOneIsBitIdenticalAndZeroFreezes() {
        Param a = param("x.weight", 3);
        Param same = param("x.weight", 3);
        Param frozen = param("z.weight", 4);
        float[] before = frozen.data().clone();
        AdamW one = new AdamW(List.of(a, frozen), 0.01f);
        one.scaleLearningRate(p -> p == a, 1.0);
        one.scaleLearningRate(p -> p == frozen, 0.0);
        AdamW plain = new AdamW(List.of(same), 0.01f);
        for (int step = 0; step < 3; step++) {
            fillGrad(a, step);
            fillGrad(same, step);
            fillGrad(frozen, 100 + step);
            one.step(1e-3f);
            plain.step(1e-3f);
        }
        assertArrayEquals(same.data(), a.data());
        assertArrayEquals(before, frozen.data());
        assertThrows(IllegalArgumentException.class, () -> one.scaleLearningRate(p -> true, -1));
        assertThrows(IllegalArgumentException.class, () -> one.scaleLearningRate(p -> true, Double.NaN));
    }

    @Test
    void dynamicLoraOptimizerGroupsExactlyTheGates(@TempDir Path dir) throws Exception {
        ModelConfig c = TinyBert.config(dir, 2, 16, 2, 32, 0.0);
        SequenceClassifier m = TinyBert.classifier(c, 2, 1);
        LoraConfig lora = LoraConfig.of(2, 4f, "query,value", false, 0f, 7);
        AdaptiveOptions opts = AdaptiveOptions.defaults(2);
        List<Param> params = MethodSetup.apply(m, Method.DYNAMIC, lora, opts);
        Set<Param> gates = MethodSetup.gateParams(m);
        assertEquals(2 * 2 * 2, gates.size(), "w and b for query and value of 2 layers");
        assertTrue(params.containsAll(gates));
        for (Param p : gates) {
            assertTrue(p.name().contains(".lora_gate."), p.name());
        }
        for (Param p : params) {
            if (!gates.contains(p)) {
                assertFalse(p.name().contains(".lora_gate."), p.name());
            }
        }
        // The optimizer built for the run moves a gate weight by ratio * lr, a gate bias and every other parameter by
        // lr: one step from zero moments moves each element by about its rate (Adam's first step is lr * sign(grad)).
        AdamW opt = MethodSetup.optimizer(m, params, Method.DYNAMIC, 0f,
                new AdaptiveOptions(4, 1, 2.0, true, true, true, 3, 2, 0.5, -1, -1, -1, false, 0.1, 0, null, null));
        Set<Param> weights = MethodSetup.gateWeights(m);
        assertEquals(2 * 2, weights.size());
        for (Param p : params) {
            java.util.Arrays.fill(p.grad(), 1f);
        }
        List<float[]> before = params.stream().map(p -> p.data().clone()).toList();
        opt.step(1e-2f);
        for (int i = 0; i < params.size(); i++) {
            Param p = params.get(i);
            double expected = weights.contains(p) ? -1e-3 : -1e-2;
            assertEquals(expected, p.data()[0] - before.get(i)[0], 1e-5, p.name());
        }
    }
}
