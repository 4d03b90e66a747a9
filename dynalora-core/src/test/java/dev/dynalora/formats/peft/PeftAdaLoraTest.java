package dev.dynalora.formats.peft;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.adapters.AdaLoraAdapter;
import dev.dynalora.adapters.AdaLoraAllocator;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.data.PaddedBatch;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.formats.SafetensorsReader;
import dev.dynalora.kernels.ReferenceKernels;
import dev.dynalora.tensor.Param;
import dev.dynalora.tensor.Tensor;
import dev.dynalora.training.AdamW;
import dev.dynalora.training.AdaptiveHooks;
import dev.dynalora.training.AdaptiveOptions;
import dev.dynalora.training.ClassifierStep;
import dev.dynalora.training.Method;
import dev.dynalora.training.MethodSetup;
import dev.dynalora.training.StepHooks;
import dev.dynalora.models.AdapterFixtures;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.bert.SequenceClassifier;
import dev.dynalora.models.TinyBert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static dev.dynalora.models.AdapterFixtures.LABELS;
import static dev.dynalora.formats.UserErrors.assertUserError;
import static dev.dynalora.models.AdapterFixtures.attach;
import static dev.dynalora.models.AdapterFixtures.logits;
import static dev.dynalora.models.AdapterFixtures.model;
import static dev.dynalora.models.GradientCheck.randomize;
import static dev.dynalora.models.AdapterFixtures.scrambleHead;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * AdaLoRA in PEFT's ADALORA layout: the folder PeftAdapters.saveAdaLora writes (keys without ".weight", tensors
 * cut to the kept triplets, a boolean rank_pattern, AdaLoraConfig's fields), read back bit for bit, after real
 * training with the allocator too; folders PEFT writes are checked in PeftAdaptersTest.
 */
class PeftAdaLoraTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String Q0 = AdapterFixtures.Q0;
    static final String V0 = AdapterFixtures.V0;
    static final String Q1 = AdapterFixtures.Q1;

    static ModelConfig config(Path dir) throws IOException {
        return TinyBert.config(dir.resolve("base"), 2, 8, 2, 12, 0.0);
    }

    @Test
    void saveThenLoadGivesBitIdenticalLogitsAndPeftsLayout(@TempDir Path dir) throws Exception {
        ModelConfig c = config(dir);
        SequenceClassifier trained = model(c, 7, LABELS);
        AdapterFixtures.attachAdaLora(trained, 5f);
        scrambleHead(trained, 12);
        float[] expected = logits(trained);
        LoraConfig cfg = LoraConfig.of(2, 5f, "query,value", false, 0.1f, 1);
        Path a = dir.resolve("ada");
        PeftAdapters.saveAdaLora(a, trained, cfg, AdapterFixtures.adaLoraSchedule(), "base-model");

        SequenceClassifier fresh = model(c, 7, LABELS);
        assertFalse(Arrays.equals(expected, logits(fresh)), "the adapters and head must matter for this test");
        LoraConfig read = PeftAdapters.load(a, fresh);
        assertArrayEquals(expected, logits(fresh));
        AdaLoraAdapter q0 = assertInstanceOf(AdaLoraAdapter.class, module(fresh, Q0).adapter());
        assertEquals(4, q0.rank(), "loaded at init_r, as PEFT keeps ranknum");
        assertEquals(((AdaLoraAdapter) module(trained, Q0).adapter()).factor(), q0.factor());
        assertArrayEquals(new float[] {0f, 0f}, new float[] {q0.loraE().data()[1], q0.loraE().data()[3]});
        assertNull(module(fresh, V0).adapter(), "a module with every triplet pruned adds nothing");
        assertEquals(4, read.rank());
        assertEquals(5f, read.alpha());
        assertEquals(0.1f, read.dropout());
        assertEquals(Map.of(Q0, 2, V0, 0, Q1, 3), read.rankPattern());

        try (SafetensorsReader r = SafetensorsReader.open(a.resolve("adapter_model.safetensors"))) {
            String q = "base_model.model.bert." + Q0;
            assertArrayEquals(new int[] {2, 8}, r.shape(q + ".lora_A"));
            assertArrayEquals(new int[] {2, 1}, r.shape(q + ".lora_E"));
            assertArrayEquals(new int[] {8, 2}, r.shape(q + ".lora_B"));
            // Kept triplets 0 and 2 of query 0, in order.
            AdaLoraAdapter orig = (AdaLoraAdapter) module(trained, Q0).adapter();
            float[] e = orig.loraE().data();
            assertArrayEquals(new float[] {e[0], e[2]}, r.readFloat(q + ".lora_E"));
            assertArrayEquals(Arrays.copyOfRange(orig.loraA().data(), 2 * 8, 3 * 8),
                    Arrays.copyOfRange(r.readFloat(q + ".lora_A"), 8, 16));
            String v = "base_model.model.bert." + V0;
            assertArrayEquals(new int[] {0, 8}, r.shape(v + ".lora_A"));
            assertArrayEquals(new int[] {8, 0}, r.shape(v + ".lora_B"));
            assertArrayEquals(new int[] {0, 1}, r.shape(v + ".lora_E"));
            assertArrayEquals(new int[] {4, 8}, r.shape("base_model.model.bert.encoder.layer.1.attention.self.value.lora_A"));
            assertTrue(r.has("base_model.model.bert.pooler.dense.weight"));
            assertTrue(r.has("base_model.model.classifier.bias"));
            assertEquals(4 * 3 + 4, r.names().size(), "A, E, B of four modules and the head; no ranknum");
            assertEquals("pt", r.metadata().get("format"));
        }

        String text = Files.readString(a.resolve("adapter_config.json"));
        JsonNode json = JSON.readTree(text);
        assertEquals("ADALORA", json.get("peft_type").asText());
        assertEquals("SEQ_CLS", json.get("task_type").asText());
        assertEquals(8, json.get("r").asInt(), "r is unused by AdaLoRA; PEFT's default avoids its warning");
        assertEquals(4, json.get("init_r").asInt());
        assertEquals(2, json.get("target_r").asInt());
        assertEquals(3, json.get("tinit").asInt());
        assertEquals(4, json.get("tfinal").asInt());
        assertEquals(2, json.get("deltaT").asInt());
        assertEquals(0.85, json.get("beta1").asDouble());
        assertEquals(0.85, json.get("beta2").asDouble());
        assertEquals(0.5, json.get("orth_reg_weight").asDouble());
        assertEquals(20, json.get("total_step").asInt());
        assertEquals(5, json.get("lora_alpha").asInt());
        assertEquals(0.1, json.get("lora_dropout").asDouble());
        assertFalse(json.get("use_rslora").asBoolean());
        assertEquals("base-model", json.get("base_model_name_or_path").asText());
        assertEquals(List.of("pooler", "classifier", "score"), JSON.convertValue(json.get("modules_to_save"), List.class));
        assertEquals(List.of("query", "value"), JSON.convertValue(json.get("target_modules"), List.class));
        JsonNode rp = json.get("rank_pattern");
        assertEquals(4, rp.size());
        assertEquals("[true,false,true,false]", rp.get("bert." + Q0 + ".lora_E").toString());
        assertEquals("[false,false,false,false]", rp.get("bert." + V0 + ".lora_E").toString());
        assertEquals("[false,true,true,true]", rp.get("bert." + Q1 + ".lora_E").toString());
        // sort_keys=True, as PEFT's json.dumps writes it.
        List<String> keys = new ArrayList<>();
        for (Iterator<String> it = json.fieldNames(); it.hasNext(); ) {
            keys.add(it.next());
        }
        List<String> sorted = new ArrayList<>(keys);
        sorted.sort(null);
        assertEquals(sorted, keys);
        // PEFT >= 0.18 refuses a config without a budgeting phase.
        assertTrue(json.get("tinit").asLong() < json.get("total_step").asLong() - json.get("tfinal").asLong());
    }

    static LinearModule module(SequenceClassifier m, String name) {
        return m.encoder().linearModules().stream().filter(x -> x.name().equals(name)).findFirst().orElseThrow();
    }

    /**
     * A real AdaLoRA run (MethodSetup, the trainer's hooks, lora_dropout on) past its final mask: the file's
     * rank_pattern is the allocator's, and the reloaded model computes the trained model's logits bit for bit.
     */
    @Test
    void aTrainedRunExportsTheAllocatorsPatternAndReloadsExactly(@TempDir Path dir) throws Exception {
        ModelConfig c = config(dir);
        SequenceClassifier m = model(c, 7, LABELS);
        LoraConfig lora = LoraConfig.of(2, 8f, "query,value,dense", false, 0.1f, 3);
        AdaptiveOptions o = new AdaptiveOptions(4, 1, 2.0, true, true, true, 3, 1, 0.5, 2, 3, 1, false, 1.0, 0, null, null);
        List<Param> params = MethodSetup.apply(m, Method.ADALORA, lora, o);
        long total = 12;
        StepHooks hooks = AdaptiveHooks.create(Method.ADALORA, m, 2, o, total);
        ClassifierStep step = new ClassifierStep(m, params, new AdamW(params, 0.01f), 1.0);
        step.setHooks(hooks);
        PaddedBatch b = dev.dynalora.models.AdapterFixtures.batch();
        ReferenceKernels k = new ReferenceKernels();
        for (long s = 0; s < total; s++) {
            step.step(k, b, new int[] {0, 2, 1}, null, 5e-2f, 4, s);
        }
        AdaLoraAllocator alloc = ((AdaptiveHooks.AdaLoraHooks) hooks).allocator();
        float[] expected = logits(m);
        Path a = dir.resolve("run");
        PeftAdapters.saveAdaLora(a, m, lora, alloc.config(), null);

        JsonNode rp = JSON.readTree(a.resolve("adapter_config.json").toFile()).get("rank_pattern");
        int kept = 0;
        for (Map.Entry<String, boolean[]> e : alloc.rankPattern().entrySet()) {
            boolean[] flags = e.getValue();
            JsonNode written = rp.get("bert." + e.getKey() + ".lora_E");
            for (int j = 0; j < flags.length; j++) {
                assertEquals(flags[j], written.get(j).asBoolean(), e.getKey() + " triplet " + j);
                kept += flags[j] ? 1 : 0;
            }
        }
        assertEquals(alloc.targetBudget(), kept, "the final mask keeps the target budget");
        assertTrue(kept < alloc.initBudget(), "something must have been pruned for this test");

        SequenceClassifier fresh = model(c, 7, LABELS);
        PeftAdapters.load(a, fresh);
        assertArrayEquals(expected, logits(fresh));
    }

    @Test
    void malformedAdaLoraFoldersAreUserErrors(@TempDir Path dir) throws Exception {
        ModelConfig c = config(dir);
        SequenceClassifier trained = model(c, 7, LABELS);
        AdapterFixtures.attachAdaLora(trained, 5f);
        Path a = dir.resolve("ada");
        PeftAdapters.saveAdaLora(a, trained, LoraConfig.of(2, 5f, "query,value", false, 0f, 1), AdapterFixtures.adaLoraSchedule(), null);
        SequenceClassifier m = model(c, 7, LABELS);
        float[] head = m.classifier().weight().data().clone();

        PeftAdaptersTest.editConfig(a, "[ true, false, true, false ]", "[ true, false, true ]");
        assertUserError(() -> PeftAdapters.load(a, m), "rank_pattern", Q0, "4 booleans");
        PeftAdaptersTest.editConfig(a, "[ true, false, true ]", "[ true, false, true, 0 ]");
        assertUserError(() -> PeftAdapters.load(a, m), "rank_pattern", "true or false", "0");
        PeftAdaptersTest.editConfig(a, "[ true, false, true, 0 ]", "[ true, true, true, false ]");
        assertUserError(() -> PeftAdapters.load(a, m), Q0, "rank 2", "keeps 3 of 4");
        PeftAdaptersTest.editConfig(a, "[ true, true, true, false ]", "[ true, false, true, false ]");
        PeftAdaptersTest.editTensors(a, "base_model.model.bert." + Q0 + ".lora_gate.weight", new Tensor(new int[] {8}, new float[8]));
        PeftAdaptersTest.editTensors(a, "base_model.model.bert." + Q0 + ".lora_gate.bias", new Tensor(new int[] {1}, new float[1]));
        assertUserError(() -> PeftAdapters.load(a, m), Q0, "lora_gate", "only LoRA");
        PeftAdaptersTest.assertUntouched(m, head);
    }

    @Test
    void savingTheWrongKindOfAdapterIsRefused(@TempDir Path dir) throws Exception {
        ModelConfig c = config(dir);
        SequenceClassifier lora = model(c, 7, LABELS);
        attach(lora, List.of("query"), 2, 4f, false, false, false, 1);
        assertUserError(() -> PeftAdapters.saveAdaLora(dir.resolve("x"), lora, LoraConfig.of(2, 4f, "query", false, 0f, 1),
                AdapterFixtures.adaLoraSchedule(), null), Q0, "not AdaLoRA");
        SequenceClassifier ada = model(c, 7, LABELS);
        AdapterFixtures.attachAdaLora(ada, 5f);
        assertUserError(() -> PeftAdapters.save(dir.resolve("y"), ada, LoraConfig.of(2, 5f, "query,value", false, 0f, 1),
                null, null), Q0, "not LoRA");
        // The config must describe the adapters: another alpha would write a file that scales differently.
        assertThrows(IllegalArgumentException.class, () -> PeftAdapters.saveAdaLora(dir.resolve("z"), ada,
                LoraConfig.of(2, 4f, "query,value", false, 0f, 1), AdapterFixtures.adaLoraSchedule(), null));
        assertFalse(Files.exists(dir.resolve("x")) || Files.exists(dir.resolve("z")));
    }
}
