package dev.dynalora.formats.peft;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.adapters.AdaLoraAdapter;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.formats.SafetensorsReader;
import dev.dynalora.formats.SafetensorsWriter;
import dev.dynalora.tensor.Tensor;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.bert.SequenceClassifier;
import dev.dynalora.models.TinyBert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static dev.dynalora.models.AdapterFixtures.LABELS;
import static dev.dynalora.models.AdapterFixtures.assertClose;
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
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * PEFT adapter folders: our own round trip must reproduce the logits bit for bit (also for masked Dynamic LoRA
 * adapters exported at their active rank, and gated ones), folders laid out as PEFT writes them must load, and
 * every malformed folder must fail with a one-line UserInputException that leaves the model untouched.
 */
class PeftAdaptersTest {
    static final ObjectMapper JSON = new ObjectMapper();

    static ModelConfig config(Path dir) throws IOException {
        return TinyBert.config(dir.resolve("base"), 2, 8, 2, 12, 0.0);
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void saveThenLoadGivesBitIdenticalLogits(boolean rsLora, @TempDir Path dir) throws Exception {
        ModelConfig c = config(dir);
        SequenceClassifier trained = model(c, 7, LABELS);
        // rank 3 and alpha 5: s = 5/3 is not a round number, so an inexact alpha would show.
        attach(trained, List.of("query", "value"), 3, 5f, rsLora, false, false, 11);
        scrambleHead(trained, 12);
        float[] expected = logits(trained);

        LoraConfig cfg = LoraConfig.of(3, 5f, "query,value", rsLora, 0.1f, 1);
        PeftAdapters.save(dir.resolve("adapter"), trained, cfg, "base-model", null);

        SequenceClassifier fresh = model(c, 7, LABELS);
        assertFalse(Arrays.equals(expected, logits(fresh)), "the adapters and head must matter for this test");
        LoraConfig read = PeftAdapters.load(dir.resolve("adapter"), fresh);
        assertArrayEquals(expected, logits(fresh));
        assertEquals(3, read.rank());
        assertEquals(5f, read.alpha());
        assertEquals(rsLora, read.rsLora());
        assertEquals(List.of("query", "value"), read.targetModules());
        assertEquals(0.1f, read.dropout());

        JsonNode json = JSON.readTree(dir.resolve("adapter/adapter_config.json").toFile());
        assertEquals("LORA", json.get("peft_type").asText());
        assertEquals("SEQ_CLS", json.get("task_type").asText());
        assertEquals("none", json.get("bias").asText());
        assertEquals("base-model", json.get("base_model_name_or_path").asText());
        assertEquals(0.1, json.get("lora_dropout").asDouble());
        assertEquals(5, json.get("lora_alpha").asInt());
        assertTrue(json.get("rank_pattern").isEmpty());
        assertTrue(json.get("alpha_pattern").isEmpty(), json.toString());
        assertEquals(List.of("pooler", "classifier", "score"),
                JSON.convertValue(json.get("modules_to_save"), List.class));
        try (SafetensorsReader r = SafetensorsReader.open(dir.resolve("adapter/adapter_model.safetensors"))) {
            assertTrue(r.has("base_model.model.bert.encoder.layer.1.attention.self.value.lora_A.weight"));
            assertTrue(r.has("base_model.model.bert.encoder.layer.1.attention.self.value.lora_B.weight"));
            assertTrue(r.has("base_model.model.bert.pooler.dense.weight"));
            assertTrue(r.has("base_model.model.classifier.bias"));
            assertEquals("F32", r.dtype("base_model.model.classifier.weight"));
            assertEquals("pt", r.metadata().get("format"));
            assertEquals(4 * 2 + 4, r.names().size());
        }
    }

    @Test
    void gatedAdaptersRoundTripWithTheirGates(@TempDir Path dir) throws Exception {
        ModelConfig c = config(dir);
        SequenceClassifier trained = model(c, 7, LABELS);
        attach(trained, List.of("query", "value", "dense"), 2, 4f, false, true, true, 21);
        float[] expected = logits(trained);
        PeftAdapters.save(dir.resolve("a"), trained, LoraConfig.of(2, 4f, "query,value,dense", false, 0f, 1), null, null);

        SequenceClassifier fresh = model(c, 7, LABELS);
        PeftAdapters.load(dir.resolve("a"), fresh);
        assertArrayEquals(expected, logits(fresh));
        LoraAdapter q = (LoraAdapter) fresh.encoder().linearModules().get(0).adapter();
        assertTrue(q.gated());
        assertNull(q.componentMask());
        try (SafetensorsReader r = SafetensorsReader.open(dir.resolve("a/adapter_model.safetensors"))) {
            assertTrue(r.has("base_model.model.bert.encoder.layer.0.attention.self.query.lora_gate.weight"));
            assertTrue(r.has("base_model.model.bert.encoder.layer.0.attention.self.query.lora_gate.bias"));
        }
        // "dense" would also pick bert.pooler.dense in PEFT, so the file names the adapted modules one by one.
        JsonNode json = JSON.readTree(dir.resolve("a/adapter_config.json").toFile());
        assertEquals(5 * 2, json.get("target_modules").size()); // query, value and three dense per layer
        assertEquals("encoder.layer.0.attention.self.query", json.get("target_modules").get(0).asText());
    }

    @Test
    void perTokenGatesRoundTripAsPerToken(@TempDir Path dir) throws Exception {
        ModelConfig c = config(dir);
        SequenceClassifier trained = model(c, 7, LABELS);
        attach(trained, List.of("query", "value"), 2, 4f, false, true, true, 21);
        float[] perExample = logits(trained);
        for (LinearModule lm : trained.encoder().linearModules()) {
            if (lm.adapter() instanceof LoraAdapter a) {
                a.setGatePerToken(true);
            }
        }
        float[] expected = logits(trained);
        assertFalse(Arrays.equals(perExample, expected), "the per-token gate changes the outputs");
        PeftAdapters.save(dir.resolve("a"), trained, LoraConfig.of(2, 4f, "query,value", false, 0f, 1), null, null);
        try (SafetensorsReader r = SafetensorsReader.open(dir.resolve("a/adapter_model.safetensors"))) {
            assertEquals(PeftFiles.GATE_PER_TOKEN, r.metadata().get(PeftFiles.GATE_METADATA));
            assertEquals("pt", r.metadata().get("format"));
        }

        SequenceClassifier fresh = model(c, 7, LABELS);
        PeftAdapters.load(dir.resolve("a"), fresh);
        assertTrue(((LoraAdapter) fresh.encoder().linearModules().get(0).adapter()).gatePerToken());
        assertArrayEquals(expected, logits(fresh));

        // An unknown gate kind is a user error, not a silent per-example gate.
        Path w = dir.resolve("a/adapter_model.safetensors");
        Map<String, Tensor> all = readAll(w);
        SafetensorsWriter.write(w, all, Map.of("format", "pt", PeftFiles.GATE_METADATA, "per_word"));
        assertUserError(() -> PeftAdapters.load(dir.resolve("a"), model(c, 7, LABELS)), "dynalora_gate", "per_word");
    }

    /**
     * Centred gates (--gate-centre): the centre travels as lora_gate.centre, loads back so the outputs are the
     * same bits, and a file with a centre of the wrong size, or a centre without a gate, is a user error.
     */
    @Test
    void centredGatesRoundTripWithTheirCentres(@TempDir Path dir) throws Exception {
        ModelConfig c = config(dir);
        SequenceClassifier trained = model(c, 7, LABELS);
        attach(trained, List.of("query", "value"), 2, 4f, false, true, true, 21);
        float[] uncentred = logits(trained);
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(4);
        for (LinearModule lm : trained.encoder().linearModules()) {
            if (lm.adapter() instanceof LoraAdapter a) {
                float[] centre = new float[a.in()];
                for (int i = 0; i < centre.length; i++) {
                    centre[i] = (float) rnd.nextGaussian();
                }
                a.setGateCentre(centre);
            }
        }
        float[] expected = logits(trained);
        assertFalse(Arrays.equals(uncentred, expected), "the centre changes the outputs");
        PeftAdapters.save(dir.resolve("a"), trained, LoraConfig.of(2, 4f, "query,value", false, 0f, 1), null, null);
        String key = "base_model.model.bert.encoder.layer.0.attention.self.query.lora_gate.centre";
        try (SafetensorsReader r = SafetensorsReader.open(dir.resolve("a/adapter_model.safetensors"))) {
            assertTrue(r.has(key), r.names().toString());
        }
        SequenceClassifier fresh = model(c, 7, LABELS);
        PeftAdapters.load(dir.resolve("a"), fresh);
        assertArrayEquals(expected, logits(fresh));

        Path w = dir.resolve("a/adapter_model.safetensors");
        Map<String, Tensor> all = readAll(w);
        Map<String, Tensor> shortCentre = new LinkedHashMap<>(all);
        shortCentre.put(key, new Tensor(new int[] {3}, new float[3]));
        SafetensorsWriter.write(w, shortCentre, Map.of("format", "pt"));
        assertUserError(() -> PeftAdapters.load(dir.resolve("a"), model(c, 7, LABELS)), "lora_gate.centre", "[3]");
        Map<String, Tensor> noGate = new LinkedHashMap<>(all);
        noGate.remove(key.replace(".centre", ".weight"));
        noGate.remove(key.replace(".centre", ".bias"));
        SafetensorsWriter.write(w, noGate, Map.of("format", "pt"));
        assertUserError(() -> PeftAdapters.load(dir.resolve("a"), model(c, 7, LABELS)), "lora_gate.centre but no lora_gate");
    }

    @Test
    void extraTensorsAreWrittenUnderThePeftPrefix(@TempDir Path dir) throws Exception {
        ModelConfig c = config(dir);
        SequenceClassifier trained = model(c, 7, LABELS);
        attach(trained, List.of("query"), 2, 4f, false, false, true, 5);
        LoraAdapter q = (LoraAdapter) trained.encoder().linearModules().get(0).adapter();
        Map<String, Tensor> extra = new LinkedHashMap<>();
        extra.put(q.gateWeight().name(), q.gateWeight().value()); // the same values the file holds anyway: fine
        extra.put("encoder.layer.0.attention.self.query.lora_importance", new Tensor(new int[] {2}, new float[] {1f, 2f}));
        PeftAdapters.save(dir.resolve("a"), trained, LoraConfig.of(2, 4f, "query", false, 0f, 1), null, extra);
        try (SafetensorsReader r = SafetensorsReader.open(dir.resolve("a/adapter_model.safetensors"))) {
            assertTrue(r.has("base_model.model.bert.encoder.layer.0.attention.self.query.lora_importance"));
        }
    }

    @Test
    void loraWithZeroBEqualsTheBaseModelExactly(@TempDir Path dir) throws Exception {
        ModelConfig c = config(dir);
        SequenceClassifier base = model(c, 7, LABELS);
        float[] expected = logits(base);
        for (LinearModule lm : base.encoder().linearModules()) {
            lm.setAdapter(new LoraAdapter(lm.name(), lm.in(), lm.out(), 4, 8f, false, false, false, 3));
        }
        assertArrayEquals(expected, logits(base));
        // And the same after a save / load round trip.
        PeftAdapters.save(dir.resolve("a"), base, LoraConfig.of(4, 8f, "query,key,value,dense", false, 0f, 1), null, null);
        SequenceClassifier fresh = model(c, 7, LABELS);
        PeftAdapters.load(dir.resolve("a"), fresh);
        assertArrayEquals(expected, logits(fresh));
    }

    @Test
    void maskedExportLoadsIntoPlainLoraWithIdenticalLogits(@TempDir Path dir) throws Exception {
        ModelConfig c = config(dir);
        SequenceClassifier trained = model(c, 7, LABELS);
        // Rank 3, alpha 1: s = 1/3, and alpha' for the pruned ranks is not the same decimal.
        attach(trained, List.of("query", "value", "dense"), 3, 1f, false, true, false, 31);
        List<LinearModule> mods = trained.encoder().linearModules();
        ((LoraAdapter) mods.get(0).adapter()).componentMask()[1] = 0f;          // layer 0 query: r' = 2
        float[] v = ((LoraAdapter) mods.get(2).adapter()).componentMask();      // layer 0 value: r' = 0
        v[0] = 0f;
        v[1] = 0f;
        v[2] = 0f;
        float[] d = ((LoraAdapter) mods.get(9).adapter()).componentMask();      // layer 1 attention.output.dense: r' = 1
        d[0] = 0f;
        d[2] = 0f;
        float[] expected = logits(trained);

        PeftAdapters.save(dir.resolve("a"), trained, LoraConfig.of(3, 1f, "query,value,dense", false, 0f, 1), null, null);
        JsonNode json = JSON.readTree(dir.resolve("a/adapter_config.json").toFile());
        assertEquals(2, json.get("rank_pattern").get("encoder.layer.0.attention.self.query").asInt());
        assertEquals(1, json.get("rank_pattern").get("encoder.layer.0.attention.self.value").asInt());
        assertEquals(1, json.get("rank_pattern").get("encoder.layer.1.attention.output.dense").asInt());
        assertEquals(3, json.get("rank_pattern").size());
        double alphaQ = json.get("alpha_pattern").get("encoder.layer.0.attention.self.query").asDouble();
        float s = ((LoraAdapter) mods.get(0).adapter()).scaling();
        assertEquals(s, (float) (alphaQ / 2), "alpha' / r' must give the original scaling exactly");

        SequenceClassifier fresh = model(c, 7, LABELS);
        assertFalse(Arrays.equals(expected, logits(fresh)), "the adapters must matter for this test");
        PeftAdapters.load(dir.resolve("a"), fresh);
        assertArrayEquals(expected, logits(fresh));
        List<LinearModule> loaded = fresh.encoder().linearModules();
        assertEquals(2, ((LoraAdapter) loaded.get(0).adapter()).rank());
        assertEquals(1, ((LoraAdapter) loaded.get(2).adapter()).rank());
        assertEquals(1, ((LoraAdapter) loaded.get(9).adapter()).rank());
        assertEquals(3, ((LoraAdapter) loaded.get(3).adapter()).rank());
        assertNull(((LoraAdapter) loaded.get(0).adapter()).componentMask());
        assertEquals(s, ((LoraAdapter) loaded.get(0).adapter()).scaling());
    }

    /** The folder PEFT's save_pretrained writes, built by hand: keys, dtypes and config fields as PEFT has them. */
    static void writePeftFolder(Path dir, boolean withBertPart, SequenceClassifier like, Map<String, float[]> weights)
            throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("adapter_config.json"), """
                {
                  "alpha_pattern": {
                    "value": 4
                  },
                  "auto_mapping": null,
                  "base_model_name_or_path": "prajjwal1/bert-tiny",
                  "bias": "none",
                  "fan_in_fan_out": false,
                  "inference_mode": true,
                  "init_lora_weights": true,
                  "layer_replication": null,
                  "layers_pattern": null,
                  "layers_to_transform": null,
                  "loftq_config": {},
                  "lora_alpha": 16,
                  "lora_dropout": 0.1,
                  "megatron_config": null,
                  "megatron_core": "megatron.core",
                  "modules_to_save": [
                    "classifier",
                    "score"
                  ],
                  "peft_type": "LORA",
                  "r": 4,
                  "rank_pattern": {
                    "value": 2
                  },
                  "revision": null,
                  "target_modules": [
                    "value",
                    "query"
                  ],
                  "task_type": "SEQ_CLS",
                  "use_dora": false,
                  "use_rslora": false
                }
                """);
        SplittableRandom r = new SplittableRandom(99);
        Map<String, Tensor> t = new LinkedHashMap<>();
        String bert = withBertPart ? "bert." : "";
        for (int l = 0; l < 2; l++) {
            for (String mod : List.of("query", "value")) {
                int rank = mod.equals("query") ? 4 : 2;
                String name = "encoder.layer." + l + ".attention.self." + mod;
                float[] a = new float[rank * 8];
                float[] b = new float[8 * rank];
                randomize(a, r, 0.3);
                randomize(b, r, 0.3);
                weights.put(name + ".A", a);
                weights.put(name + ".B", b);
                t.put("base_model.model." + bert + name + ".lora_A.weight", new Tensor(new int[] {rank, 8}, a));
                t.put("base_model.model." + bert + name + ".lora_B.weight", new Tensor(new int[] {8, rank}, b));
            }
        }
        float[] cw = new float[LABELS * 8];
        float[] cb = new float[LABELS];
        randomize(cw, r, 0.3);
        randomize(cb, r, 0.3);
        weights.put("classifier.weight", cw);
        weights.put("classifier.bias", cb);
        t.put("base_model.model.classifier.weight", new Tensor(new int[] {LABELS, 8}, cw));
        t.put("base_model.model.classifier.bias", new Tensor(new int[] {LABELS}, cb));
        SafetensorsWriter.write(dir.resolve("adapter_model.safetensors"), t, Map.of("format", "pt"));
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void aFolderAsPeftWritesItLoads(boolean withBertPart, @TempDir Path dir) throws Exception {
        ModelConfig c = config(dir);
        Map<String, float[]> w = new LinkedHashMap<>();
        writePeftFolder(dir.resolve("peft"), withBertPart, null, w);

        SequenceClassifier loaded = model(c, 7, LABELS);
        LoraConfig cfg = PeftAdapters.load(dir.resolve("peft"), loaded);
        assertEquals(4, cfg.rank());
        assertEquals(16f, cfg.alpha());
        assertEquals(List.of("value", "query"), cfg.targetModules());
        assertEquals(Map.of("value", 2), cfg.rankPattern());
        assertEquals(Map.of("value", 4f), cfg.alphaPattern());

        // Reference: PEFT's arithmetic written out with the ordinary constructor: s = 16/4 for query, 4/2 for value.
        SequenceClassifier ref = model(c, 7, LABELS);
        for (LinearModule lm : ref.encoder().linearModules()) {
            boolean q = lm.shortName().equals("query");
            if (!q && !lm.shortName().equals("value")) {
                continue;
            }
            LoraAdapter a = new LoraAdapter(lm.name(), 8, 8, q ? 4 : 2, q ? 16f : 4f, false, false, false, 0);
            System.arraycopy(w.get(lm.name() + ".A"), 0, a.loraA().data(), 0, a.loraA().data().length);
            System.arraycopy(w.get(lm.name() + ".B"), 0, a.loraB().data(), 0, a.loraB().data().length);
            lm.setAdapter(a);
        }
        System.arraycopy(w.get("classifier.weight"), 0, ref.classifier().weight().data(), 0, LABELS * 8);
        System.arraycopy(w.get("classifier.bias"), 0, ref.classifier().bias().data(), 0, LABELS);
        assertArrayEquals(logits(ref), logits(loaded));
        assertEquals(4f, ((LoraAdapter) loaded.encoder().linearModules().get(0).adapter()).scaling());
        assertEquals(2f, ((LoraAdapter) loaded.encoder().linearModules().get(2).adapter()).scaling());
        assertNull(loaded.encoder().linearModules().get(1).adapter());
    }

    @Test
    void anAdaLoraFolderAsPeftWritesItLoads(@TempDir Path dir) throws Exception {
        ModelConfig c = config(dir);
        Path ada = dir.resolve("ada");
        Files.createDirectories(ada);
        // As PEFT writes AdaLoRA: init_r 4, rank_pattern keeping 2 of 4 in layer 0 and 3 of 4 in layer 1; tensors
        // resized to the kept components, keys without ".weight" (lora_A/B/E are ParameterDicts), no ranknum.
        Files.writeString(ada.resolve("adapter_config.json"), """
                {"peft_type": "ADALORA", "task_type": "SEQ_CLS", "init_r": 4, "target_r": 2, "r": 8,
                 "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": ["query"], "bias": "none",
                 "modules_to_save": ["classifier", "score"],
                 "rank_pattern": {"bert.encoder.layer.0.attention.self.query.lora_E": [true, false, true, false],
                                  "bert.encoder.layer.1.attention.self.query.lora_E": [true, true, true, false]}}
                """);
        SplittableRandom r = new SplittableRandom(3);
        Map<String, Tensor> t = new LinkedHashMap<>();
        Map<String, float[][]> w = new LinkedHashMap<>();
        for (int l = 0; l < 2; l++) {
            int rank = l == 0 ? 2 : 3;
            String name = "encoder.layer." + l + ".attention.self.query";
            float[] a = new float[rank * 8];
            float[] b = new float[8 * rank];
            float[] e = new float[rank];
            randomize(a, r, 0.3);
            randomize(b, r, 0.3);
            randomize(e, r, 1.0);
            w.put(name, new float[][] {a, b, e});
            t.put("base_model.model.bert." + name + ".lora_A", new Tensor(new int[] {rank, 8}, a));
            t.put("base_model.model.bert." + name + ".lora_B", new Tensor(new int[] {8, rank}, b));
            t.put("base_model.model.bert." + name + ".lora_E", new Tensor(new int[] {rank, 1}, e));
        }
        SequenceClassifier probe = model(c, 7, LABELS);
        t.put("base_model.model.classifier.weight", probe.classifier().weight().value());
        t.put("base_model.model.classifier.bias", probe.classifier().bias().value());
        SafetensorsWriter.write(ada.resolve("adapter_model.safetensors"), t);

        SequenceClassifier loaded = model(c, 7, LABELS);
        PeftAdapters.load(ada, loaded);

        // SVDLinear: y += x (A * E)^T B^T * lora_alpha / (ranknum + 1e-5), ranknum = init_r.
        SequenceClassifier ref = model(c, 7, LABELS);
        float s = (float) (8.0 / (4.0 + 1e-5));
        for (Map.Entry<String, float[][]> e : w.entrySet()) {
            LinearModule lm = ref.encoder().linearModules().stream().filter(m -> m.name().equals(e.getKey())).findFirst().orElseThrow();
            float[] a = e.getValue()[0].clone();
            int rank = a.length / 8;
            for (int j = 0; j < rank; j++) {
                for (int i = 0; i < 8; i++) {
                    a[j * 8 + i] *= e.getValue()[2][j];
                }
            }
            LoraAdapter ad = new LoraAdapter(lm.name(), 8, 8, rank, s * rank, false, false, false, 0);
            System.arraycopy(a, 0, ad.loraA().data(), 0, a.length);
            System.arraycopy(e.getValue()[1], 0, ad.loraB().data(), 0, a.length);
            lm.setAdapter(ad);
        }
        assertClose(logits(ref), logits(loaded), 1e-5);

        // Loaded as SVDLinear after resize_modules_by_rank_pattern: init_r triplets (ranknum init_r), the file's
        // triplets at the positions rank_pattern marks true, zeros elsewhere.
        AdaLoraAdapter q0 = assertInstanceOf(AdaLoraAdapter.class, loaded.encoder().linearModules().get(0).adapter());
        assertEquals(4, q0.rank());
        assertEquals(8f / (4f + 1e-5f), q0.factor());
        float[][] w0 = w.get("encoder.layer.0.attention.self.query");
        assertArrayEquals(new float[] {w0[2][0], 0f, w0[2][1], 0f}, q0.loraE().data());
        assertArrayEquals(Arrays.copyOfRange(w0[0], 8, 16), Arrays.copyOfRange(q0.loraA().data(), 16, 24));
        assertEquals(w0[1][1], q0.loraB().data()[2]); // B[0, 1] of the file is B[0, 2] at init_r
        float[] e1 = w.get("encoder.layer.1.attention.self.query")[2];
        AdaLoraAdapter q1 = (AdaLoraAdapter) loaded.encoder().linearModules().get(6).adapter();
        assertArrayEquals(new float[] {e1[0], e1[1], e1[2], 0f}, q1.loraE().data());
    }

    // ------------------------------------------------------------------------------------------ bad input

    /** A valid saved adapter to break in the tests below. */
    static Path savedAdapter(Path dir, ModelConfig c) {
        SequenceClassifier m = model(c, 7, LABELS);
        attach(m, List.of("query", "value"), 2, 4f, false, false, false, 1);
        Path a = dir.resolve("adapter");
        PeftAdapters.save(a, m, LoraConfig.of(2, 4f, "query,value", false, 0f, 1), null, null);
        return a;
    }

    /** Rewrites the adapter's safetensors with one tensor replaced, added (value non-null) or removed (null). */
    static void editTensors(Path adapter, String key, Tensor value) {
        Path f = adapter.resolve("adapter_model.safetensors");
        Map<String, Tensor> all;
        try (SafetensorsReader r = SafetensorsReader.open(f)) {
            all = new LinkedHashMap<>(r.readAll());
        }
        if (value == null) {
            all.remove(key);
        } else {
            all.put(key, value);
        }
        SafetensorsWriter.write(f, all);
    }

    static void editConfig(Path adapter, String from, String to) throws IOException {
        Path f = adapter.resolve("adapter_config.json");
        String s = Files.readString(f);
        assertTrue(s.contains(from), s);
        Files.writeString(f, s.replace(from, to));
    }

    /** The failed load left the model as it was: no adapters, the head unchanged. */
    static void assertUntouched(SequenceClassifier m, float[] head) {
        for (LinearModule lm : m.encoder().linearModules()) {
            assertNull(lm.adapter(), lm.name());
        }
        assertArrayEquals(head, m.classifier().weight().data());
    }

    @Test
    void missingFolderAndFilesAreUserErrors(@TempDir Path dir) throws Exception {
        ModelConfig c = config(dir);
        SequenceClassifier m = model(c, 7, LABELS);
        assertUserError(() -> PeftAdapters.load(dir.resolve("nope"), m), "nope", "does not exist");
        Path a = savedAdapter(dir, c);
        Files.delete(a.resolve("adapter_model.safetensors"));
        assertUserError(() -> PeftAdapters.load(a, m), "no adapter_model.safetensors");
        Files.writeString(a.resolve("adapter_model.bin"), "pickle");
        assertUserError(() -> PeftAdapters.load(a, m), "adapter_model.bin", "safe_serialization");
        Files.delete(a.resolve("adapter_config.json"));
        assertUserError(() -> PeftAdapters.load(a, m), "no adapter_config.json");
        assertUserError(() -> PeftAdapters.load(a.resolve("adapter_model.bin"), m), "got a file");
    }

    @Test
    void otherPeftTypesAndDoraAreRefused(@TempDir Path dir) throws Exception {
        ModelConfig c = config(dir);
        SequenceClassifier m = model(c, 7, LABELS);
        float[] head = m.classifier().weight().data().clone();
        Path a = savedAdapter(dir, c);
        editConfig(a, "\"LORA\"", "\"PREFIX_TUNING\"");
        assertUserError(() -> PeftAdapters.load(a, m), "adapter_config.json", "PREFIX_TUNING", "not supported");
        editConfig(a, "\"PREFIX_TUNING\"", "\"LORA\"");
        editConfig(a, "\"use_dora\" : false", "\"use_dora\" : true");
        assertUserError(() -> PeftAdapters.load(a, m), "DoRA");
        editConfig(a, "\"use_dora\" : true", "\"use_dora\" : true,,");
        assertUserError(() -> PeftAdapters.load(a, m), "not valid JSON");
        assertUntouched(m, head);
    }

    @Test
    void shapesThatDisagreeWithTheModelAreUserErrors(@TempDir Path dir) throws Exception {
        ModelConfig c = config(dir);
        SequenceClassifier m = model(c, 7, LABELS);
        float[] head = m.classifier().weight().data().clone();
        Path a = savedAdapter(dir, c);
        String qa = "base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight";
        editTensors(a, qa, Tensor.zeros(2, 9));
        assertUserError(() -> PeftAdapters.load(a, m), "encoder.layer.0.attention.self.query", "lora_A has shape [2, 9]");
        editTensors(a, qa, Tensor.zeros(3, 8));
        assertUserError(() -> PeftAdapters.load(a, m), "lora_B has shape [8, 2]");
        String qb = "base_model.model.bert.encoder.layer.0.attention.self.query.lora_B.weight";
        editTensors(a, qb, Tensor.zeros(8, 3));
        assertUserError(() -> PeftAdapters.load(a, m), "lora_A has rank 3", "implies r = 2");
        editTensors(a, qb, null);
        assertUserError(() -> PeftAdapters.load(a, m), "lora_A but no lora_B");

        Path b = savedAdapter(dir.resolve("2"), c);
        editTensors(b, "base_model.model.classifier.weight", Tensor.zeros(5, 8));
        assertUserError(() -> PeftAdapters.load(b, m), "classifier.weight", "[5, 8]", "labels");
        assertUntouched(m, head);
    }

    @Test
    void keysNamingModulesTheModelLacksAreUserErrors(@TempDir Path dir) throws Exception {
        ModelConfig c = config(dir);
        SequenceClassifier m = model(c, 7, LABELS);
        float[] head = m.classifier().weight().data().clone();
        Path a = savedAdapter(dir, c);
        editTensors(a, "base_model.model.bert.encoder.layer.5.attention.self.query.lora_A.weight", Tensor.zeros(2, 8));
        assertUserError(() -> PeftAdapters.load(a, m), "encoder.layer.5.attention.self.query", "does not have");
        editTensors(a, "base_model.model.bert.encoder.layer.5.attention.self.query.lora_A.weight", null);
        editTensors(a, "base_model.model.bert.encoder.layer.0.attention.self.qkv.weight", Tensor.zeros(2));
        assertUserError(() -> PeftAdapters.load(a, m), "qkv", "lacks");
        editTensors(a, "base_model.model.bert.encoder.layer.0.attention.self.qkv.weight", null);
        editTensors(a, "base_model.model.bert.embeddings.word_embeddings.lora_embedding_A", Tensor.zeros(2, 40));
        assertUserError(() -> PeftAdapters.load(a, m), "lora_embedding_A", "not a LoRA weight");
        assertUntouched(m, head);
    }

    @Test
    void loadReplacesAdaptersAndRestoresTheHead(@TempDir Path dir) throws Exception {
        ModelConfig c = config(dir);
        SequenceClassifier trained = model(c, 7, LABELS);
        attach(trained, List.of("value"), 2, 4f, false, false, false, 1);
        scrambleHead(trained, 5);
        float[] expected = logits(trained);
        PeftAdapters.save(dir.resolve("a"), trained, LoraConfig.of(2, 4f, "value", false, 0f, 1), null, null);

        // A model mid-way through something else: adapters on other modules, another head.
        SequenceClassifier other = model(c, 7, LABELS);
        attach(other, List.of("query", "key"), 3, 2f, false, true, true, 9);
        PeftAdapters.load(dir.resolve("a"), other);
        assertArrayEquals(expected, logits(other));
        for (LinearModule lm : other.encoder().linearModules()) {
            if (lm.shortName().equals("value")) {
                assertInstanceOf(LoraAdapter.class, lm.adapter());
            } else {
                assertNull(lm.adapter(), lm.name());
            }
        }
    }

    /** Every tensor of a safetensors file, by name, in file order. */
    static Map<String, Tensor> readAll(Path file) throws Exception {
        Map<String, Tensor> all = new LinkedHashMap<>();
        try (SafetensorsReader r = SafetensorsReader.open(file)) {
            for (String n : r.names()) {
                all.put(n, new Tensor(r.shape(n), r.readFloat(n)));
            }
        }
        return all;
    }
}
