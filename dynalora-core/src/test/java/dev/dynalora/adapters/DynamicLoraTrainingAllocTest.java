package dev.dynalora.adapters;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.data.PaddedBatch;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.kernels.ReferenceKernels;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.bert.SequenceClassifier;
import dev.dynalora.models.TinyBert;
import dev.dynalora.tensor.Param;
import dev.dynalora.training.AdamW;
import dev.dynalora.training.ClassifierStep;
import dev.dynalora.training.GradientClipping;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Dynamic LoRA inside real training steps on a tiny random BERT, with the per-step calls the trainer makes:
 * bit-identity with plain LoRA when everything is off, masked components untouched by AdamW, and a full run
 * with all three mechanisms on.
 */
class DynamicLoraTrainingAllocTest {
    static final Kernels K = new ReferenceKernels();
    static final LoraConfig TARGETS = LoraConfig.of(4, 16f, "query,value,dense", false, 0f, 3);
    static final int[] LABELS = {0, 2, 1, 1};

    static PaddedBatch batch(int variant) {
        List<int[]> ids = List.of(new int[] {1, 5, 7, 9, 2}, new int[] {1, 11, 12, 2, 13, 14, 2},
                new int[] {1, 3 + variant % 5, 2}, new int[] {1, 8, 6, 4 + variant % 7, 2});
        List<int[]> types = List.of(new int[] {0, 0, 0, 0, 0}, new int[] {0, 0, 0, 0, 1, 1, 1}, new int[] {0, 0, 0},
                new int[] {0, 0, 0, 0, 0});
        return PaddedBatch.of(ids, types, 0);
    }

    /** A model with adapters as MethodSetup attaches them (frozen base, trained head), trainable params out. */
    record Setup(SequenceClassifier model, List<LoraAdapter> adapters, List<Param> params, ClassifierStep step, AdamW opt) {
    }

    static Setup setup(Path dir, int rank, boolean mask, boolean gated) throws Exception {
        ModelConfig c = TinyBert.config(dir, 2, 8, 2, 12, 0.1);
        SequenceClassifier m = TinyBert.classifier(c, 3, 7);
        for (Param p : m.allParams()) {
            p.setTrainable(false);
        }
        for (Param p : m.headParams()) {
            p.setTrainable(true);
        }
        List<LoraAdapter> ads = new ArrayList<>();
        List<Param> params = new ArrayList<>();
        int off = 0;
        for (LinearModule lm : m.encoder().linearModules()) {
            if (!TARGETS.targets(lm.name())) {
                continue;
            }
            LoraAdapter a = new LoraAdapter(lm.name(), lm.in(), lm.out(), rank, 16f, false, mask, gated,
                    TARGETS.seed() * 1_000_003L + off++);
            lm.setAdapter(a);
            ads.add(a);
            params.addAll(a.params());
        }
        params.addAll(m.headParams());
        AdamW opt = new AdamW(params, 0.9f, 0.999f, 1e-8f, 0.1f);
        return new Setup(m, ads, params, new ClassifierStep(m, params, opt, 1.0), opt);
    }

    /** One training step with the allocator calls in the order the trainer makes them. */
    static float train(Setup s, DynamicLoraAllocator alloc, long step) {
        float loss = s.step().lossAndGradients(K, batch((int) step), LABELS, null, true, 17, step);
        GradientClipping.clip(s.params(), 1.0);
        if (alloc != null) {
            alloc.observe(step);
            alloc.beforeOptimizerStep();
        }
        s.opt().step(5e-2f);
        if (alloc != null) {
            alloc.afterOptimizerStep();
            alloc.maybeReallocate(step);
        }
        return loss;
    }

    @Test
    void withEverythingOffDynamicLoraTrainsBitIdenticallyToLora(@TempDir Path dir) throws Exception {
        // Importance on is still bit-identical: measuring only reads the parameters and gradients.
        for (DynamicLoraConfig cfg : List.of(DynamicLoraConfig.allOff(4, 6), DynamicLoraConfig.allOff(4, 6).withSwitches(true, false, false))) {
            Setup lora = setup(dir.resolve("lora"), 4, false, false);
            Setup dyn = setup(dir.resolve("dyn"), 4, true, false);
            DynamicLoraAllocator alloc = new DynamicLoraAllocator(cfg, dyn.adapters());
            float[] a0 = lora.adapters().get(0).loraA().data().clone();
            for (long step = 0; step < 6; step++) {
                float l1 = train(lora, null, step);
                float l2 = train(dyn, alloc, step);
                assertEquals(Float.floatToIntBits(l1), Float.floatToIntBits(l2), "loss differs at step " + step);
            }
            assertEquals(lora.params().size(), dyn.params().size());
            for (int i = 0; i < lora.params().size(); i++) {
                Param p = lora.params().get(i);
                Param q = dyn.params().get(i);
                assertEquals(p.name(), q.name());
                assertArrayEquals(bits(p.data()), bits(q.data()), "parameter " + p.name() + " differs");
            }
            assertFalse(Arrays.equals(a0, lora.adapters().get(0).loraA().data()), "training did not move A");
            assertTrue(anyNonZero(lora.adapters().get(0).loraB().data()), "B stayed zero");
        }
    }

    static boolean anyNonZero(float[] x) {
        for (float v : x) {
            if (v != 0f) {
                return true;
            }
        }
        return false;
    }

    static int[] bits(float[] x) {
        int[] b = new int[x.length];
        for (int i = 0; i < x.length; i++) {
            b[i] = Float.floatToIntBits(x[i]);
        }
        return b;
    }

    @Test
    void bothSensitivityTermsMeasureTheSameFirstOrderLossChange(@TempDir Path dir) throws Exception {
        // Scaling A's row i or B's column i by (1 + eps) scales component i's contribution s g B_i (A_i x) the same
        // way, so A_i . dA_i = B_i . dB_i = dL/d(eps): minus the first-order loss change of removing component i.
        Setup s = setup(dir, 4, true, true);
        randomizeBAndGates(s.adapters(), 21);
        s.step().lossAndGradients(K, batch(0), LABELS, null, true, 17, 0);
        int compared = 0;
        for (LoraAdapter a : s.adapters()) {
            int r = a.rank();
            float[] av = a.loraA().data();
            float[] ag = a.loraA().grad();
            float[] bv = a.loraB().data();
            float[] bg = a.loraB().grad();
            int in = av.length / r;
            int out = bv.length / r;
            for (int j = 0; j < r; j++) {
                double sa = 0;
                for (int k = 0; k < in; k++) {
                    sa += (double) av[j * in + k] * ag[j * in + k];
                }
                double sb = 0;
                for (int o = 0; o < out; o++) {
                    sb += (double) bv[o * r + j] * bg[o * r + j];
                }
                assertEquals(sa, sb, 1e-5 * (Math.abs(sa) + 1e-6), a.name() + " component " + j);
                compared++;
            }
        }
        assertTrue(compared > 10);
    }

    /** Random B and gates (B starts at zero, which would make every sensitivity zero). */
    static void randomizeBAndGates(List<LoraAdapter> ads, long seed) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        for (LoraAdapter a : ads) {
            for (float[] x : new float[][] {a.loraB().data(), a.gated() ? a.gateWeight().data() : new float[0]}) {
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) ((r.nextDouble() * 2 - 1) * 0.5);
                }
            }
        }
    }

    @Test
    void maskedComponentsAreNotMovedByTheOptimizer(@TempDir Path dir) throws Exception {
        Setup s = setup(dir, 4, true, false);
        DynamicLoraConfig cfg = DynamicLoraConfig.defaults(4, 40).withRanks(1, 2, 2).withSchedule(2, 10, 2, 40)
                .withSwitches(true, true, false);
        DynamicLoraAllocator alloc = new DynamicLoraAllocator(cfg, s.adapters());
        int maskedWithMomentum = 0;
        boolean moved = false;
        for (long step = 0; step < 30; step++) {
            s.step().lossAndGradients(K, batch((int) step), LABELS, null, true, 17, step);
            GradientClipping.clip(s.params(), 1.0);
            alloc.observe(step);
            List<float[]> beforeA = new ArrayList<>();
            List<float[]> beforeB = new ArrayList<>();
            for (LoraAdapter a : s.adapters()) {
                beforeA.add(a.loraA().data().clone());
                beforeB.add(a.loraB().data().clone());
            }
            alloc.beforeOptimizerStep();
            s.opt().step(5e-2f);
            alloc.afterOptimizerStep();
            for (int m = 0; m < s.adapters().size(); m++) {
                LoraAdapter a = s.adapters().get(m);
                int r = a.rank();
                int in = a.loraA().data().length / r;
                int out = a.loraB().data().length / r;
                int pa = s.params().indexOf(a.loraA());
                for (int j = 0; j < r; j++) {
                    if (a.componentMask()[j] != 0f) {
                        continue;
                    }
                    for (int k = 0; k < in; k++) {
                        assertEquals(beforeA.get(m)[j * in + k], a.loraA().data()[j * in + k], "masked A moved at step " + step);
                        if (s.opt().firstMoments().get(pa)[j * in + k] != 0f) {
                            maskedWithMomentum++;
                        }
                    }
                    for (int o = 0; o < out; o++) {
                        assertEquals(beforeB.get(m)[o * r + j], a.loraB().data()[o * r + j], "masked B moved at step " + step);
                    }
                }
            }
            alloc.maybeReallocate(step);
            moved |= Arrays.stream(alloc.ranks()).anyMatch(x -> x != 2);
        }
        assertTrue(moved, "reallocation never changed a rank: the test would prove nothing");
        // Without the restore AdamW's momentum (and weight decay) would have moved these entries.
        assertTrue(maskedWithMomentum > 0, "no masked component carried optimizer momentum");
    }

    @Test
    void fullDynamicLoraRunKeepsTheBudgetAndLogs(@TempDir Path dir) throws Exception {
        Setup s = setup(dir, 6, true, true);
        DynamicLoraConfig cfg = DynamicLoraConfig.defaults(6, 30).withRanks(1, 3, 3).withSchedule(3, 6, 3, 30)
                .withParameterBudget(false);
        assertTrue(cfg.importance() && cfg.reallocation() && cfg.gate());
        DynamicLoraAllocator alloc = new DynamicLoraAllocator(cfg, s.adapters());
        int n = s.adapters().size();
        ObjectMapper json = new ObjectMapper();
        int realloc = 0;
        for (long step = 0; step < 30; step++) {
            float loss = train(s, alloc, step);
            assertTrue(Float.isFinite(loss));
            assertEquals(3 * n, alloc.activeBudget());
            int[] ranks = alloc.ranks();
            for (int m = 0; m < n; m++) {
                assertTrue(ranks[m] >= 1 && ranks[m] <= 6);
                assertEquals(ranks[m], DynamicLoraAllocator.activeComponents(s.adapters().get(m)).length);
            }
            JsonNode rec = json.readTree(alloc.allocationRecord(step).toString());
            assertEquals(n, rec.get("modules").size());
            assertEquals(2, rec.get("layers").size());
            double g = rec.get("modules").get(s.adapters().get(0).name()).get("gate_mean").asDouble();
            assertTrue(g > 0 && g < 2);
            realloc = (int) alloc.reallocations();
        }
        assertEquals(7, realloc, "steps 6, 9, ..., 24 reallocate");
        assertTrue(alloc.finalized());
        assertTrue(anyNonZero(s.adapters().get(0).gateWeight().data()), "gate did not train");
    }
}
