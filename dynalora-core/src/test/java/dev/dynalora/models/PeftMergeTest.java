package dev.dynalora.models;

import dev.dynalora.models.bert.SequenceClassifier;

import dev.dynalora.formats.peft.PeftAdapters;
import dev.dynalora.adapters.LinearAdapter;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.tensor.Param;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static dev.dynalora.models.AdapterFixtures.LABELS;
import static dev.dynalora.models.AdapterFixtures.assertClose;
import static dev.dynalora.formats.UserErrors.assertUserError;
import static dev.dynalora.models.AdapterFixtures.attach;
import static dev.dynalora.models.AdapterFixtures.logits;
import static dev.dynalora.models.AdapterFixtures.model;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

/**
 * Merging adapters into the base weights (AdapterMerge; named Peft* to run with the adapter-file tests):
 * merged and unmerged forward agree, unmerge restores the weights, gated adapters are refused untouched.
 */
class PeftMergeTest {

    static ModelConfig config(Path dir) throws Exception {
        return TinyBert.config(dir, 2, 8, 2, 12, 0.0);
    }

    static List<float[]> weights(SequenceClassifier m) {
        List<float[]> w = new ArrayList<>();
        for (Param p : m.allParams()) {
            w.add(p.data().clone());
        }
        return w;
    }

    @Test
    void mergedForwardEqualsUnmergedForward(@TempDir Path dir) throws Exception {
        SequenceClassifier m = model(config(dir), 7, LABELS);
        attach(m, List.of("query", "value", "dense"), 3, 5f, false, true, false, 4);
        // Prune a component somewhere: merge must honour the mask (W += s B diag(mask) A).
        ((LoraAdapter) m.encoder().linearModules().get(0).adapter()).componentMask()[2] = 0f;
        float[] before = logits(m);
        AdapterMerge.Merged merged = AdapterMerge.merge(m);
        assertEquals(10, merged.adapters().size());
        for (LinearModule lm : m.encoder().linearModules()) {
            assertNull(lm.adapter(), lm.name());
        }
        assertClose(before, logits(m), 1e-5);
    }

    @Test
    void mergeThenUnmergeRestoresTheWeights(@TempDir Path dir) throws Exception {
        SequenceClassifier m = model(config(dir), 7, LABELS);
        attach(m, List.of("query", "key", "value", "dense"), 4, 8f, true, true, false, 6);
        List<float[]> original = weights(m);
        List<LinearAdapter> adapters = new ArrayList<>();
        for (LinearModule lm : m.encoder().linearModules()) {
            adapters.add(lm.adapter());
        }
        float[] before = logits(m);

        AdapterMerge.Merged merged = AdapterMerge.merge(m);
        AdapterMerge.unmerge(m, merged);

        List<float[]> after = weights(m);
        for (int i = 0; i < original.size(); i++) {
            assertClose(original.get(i), after.get(i), 1e-6);
        }
        for (int i = 0; i < adapters.size(); i++) {
            assertSame(adapters.get(i), m.encoder().linearModules().get(i).adapter());
        }
        assertClose(before, logits(m), 1e-5);
    }

    /**
     * AdaLoRA merges as PEFT's get_delta_weight: W += B (A * E) lora_alpha / (ranknum + 1e-5), pruned triplets
     * (E = 0) adding nothing; unmerge restores W. The same for an adapter read back from its PEFT export.
     */
    @Test
    void adaLoraMergedForwardEqualsUnmergedForward(@TempDir Path dir) throws Exception {
        ModelConfig c = config(dir.resolve("m"));
        SequenceClassifier m = model(c, 7, LABELS);
        AdapterFixtures.attachAdaLora(m, 5f);
        List<float[]> original = weights(m);
        float[] before = logits(m);
        AdapterMerge.Merged merged = AdapterMerge.merge(m);
        assertEquals(4, merged.adapters().size(), "one pruned to rank 0 still merges (as nothing)");
        assertClose(before, logits(m), 1e-5);
        AdapterMerge.unmerge(m, merged);
        List<float[]> after = weights(m);
        for (int i = 0; i < original.size(); i++) {
            assertClose(original.get(i), after.get(i), 1e-6);
        }

        PeftAdapters.saveAdaLora(dir.resolve("a"), m, LoraConfig.of(2, 5f, "query,value", false, 0f, 1),
                AdapterFixtures.adaLoraSchedule(), null);
        SequenceClassifier loaded = model(c, 7, LABELS);
        PeftAdapters.load(dir.resolve("a"), loaded);
        AdapterMerge.merge(loaded);
        assertClose(before, logits(loaded), 1e-5);
    }

    @Test
    void gatedAdaptersAreRefusedAndTheModelIsLeftAsItWas(@TempDir Path dir) throws Exception {
        SequenceClassifier m = model(config(dir), 7, LABELS);
        attach(m, List.of("query", "value"), 2, 4f, false, false, false, 8);
        // One gated adapter, after plain ones in model order: nothing before it may have been merged.
        LinearModule out = m.encoder().linearModules().get(11);
        LoraAdapter gated = new LoraAdapter(out.name(), out.in(), out.out(), 2, 4f, false, false, true, 1);
        out.setAdapter(gated);
        List<float[]> original = weights(m);

        assertUserError(() -> AdapterMerge.merge(m), "encoder.layer.1.output.dense", "gate", "exactly");
        List<float[]> after = weights(m);
        for (int i = 0; i < original.size(); i++) {
            assertArrayEquals(original.get(i), after.get(i));
        }
        assertSame(gated, out.adapter());
        assertEquals(LoraAdapter.class, m.encoder().linearModules().get(0).adapter().getClass());
    }
}
