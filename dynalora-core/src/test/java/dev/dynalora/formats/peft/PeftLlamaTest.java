package dev.dynalora.formats.peft;

import dev.dynalora.models.GradientCheck;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.adapters.AdaLoraAdapter;
import dev.dynalora.adapters.AdaLoraAllocator;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.formats.SafetensorsReader;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.llama.LlamaConfig;
import dev.dynalora.models.llama.LlamaForCausalLM;
import dev.dynalora.models.llama.TinyLlama;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

import static dev.dynalora.formats.UserErrors.assertUserError;
import static dev.dynalora.models.llama.TinyLlama.attachLora;
import static dev.dynalora.models.llama.TinyLlama.logits;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * PEFT adapter folders of a Llama causal LM (task_type CAUSAL_LM, keys base_model.model.model.layers.N...., no head):
 * LoRA with per-module ranks and alphas, gated Dynamic LoRA and AdaLoRA reload to bit-identical logits, and an
 * adapter for another base is a one-line error that leaves the model as it was. Folders written by the PyTorch
 * reference are checked in PeftReferenceAdapterTest.
 */
class PeftLlamaTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String Q0 = "model.layers.0.self_attn.q_proj";
    static final String V0 = "model.layers.0.self_attn.v_proj";
    static final List<String> ALL_LINEAR = List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");

    /** TinyLlama: 2 layers, hidden 24, 4 heads over 2 kv heads (k/v projections 12 wide), FFN 13, vocabulary 29. */
    static LlamaConfig config(Path dir) throws IOException {
        return TinyLlama.config(dir.resolve("base"), true);
    }

    static LlamaForCausalLM model(LlamaConfig c) {
        return TinyLlama.model(c, 7);
    }

    @Test
    void qAndVWithDifferingRanksAndAlphasRoundTripBitForBit(@TempDir Path dir) throws Exception {
        LlamaConfig c = config(dir);
        LlamaForCausalLM trained = model(c);
        // Rank 3 and alpha 5 everywhere but on v_proj of layer 0: rank 2, alpha 4 (scaling 2, not 5/2).
        attachLora(trained, Set.of("q_proj", "v_proj"), new int[] {3}, 5f, false, false, false, 11);
        LoraAdapter other = new LoraAdapter(V0, 24, 12, 2, 4f, false, false, false, 12);
        GradientCheck.randomize(other.loraB().data(), new SplittableRandom(13), 0.3);
        module(trained, V0).setAdapter(other);
        float[] expected = logits(trained);
        Path a = dir.resolve("adapter");
        PeftAdapters.save(a, trained, LoraConfig.of(3, 5f, "q_proj,v_proj", false, 0.05f, 1), "tiny-llama", null);

        JsonNode json = JSON.readTree(a.resolve(PeftFiles.CONFIG_FILE).toFile());
        assertEquals("LORA", json.get("peft_type").asText());
        assertEquals("CAUSAL_LM", json.get("task_type").asText());
        assertTrue(json.get("modules_to_save").isNull(), "a causal LM saves no head");
        assertEquals("[\"q_proj\",\"v_proj\"]", json.get("target_modules").toString());
        assertEquals(3, json.get("r").asInt());
        assertEquals(5, json.get("lora_alpha").asInt());
        assertEquals("tiny-llama", json.get("base_model_name_or_path").asText());
        // Keys are the full module names, which PEFT matches with (.*\.)?(K)$ and the reference with (.*\.)?K$.
        assertEquals("{\"" + V0 + "\":2}", json.get("rank_pattern").toString());
        assertEquals("{\"" + V0 + "\":4}", json.get("alpha_pattern").toString());
        try (SafetensorsReader r = SafetensorsReader.open(a.resolve(PeftFiles.WEIGHTS_FILE))) {
            assertEquals(8, r.names().size(), "lora_A and lora_B of 4 modules, nothing else");
            assertArrayEquals(new int[] {3, 24}, r.shape("base_model.model." + Q0 + ".lora_A.weight"));
            assertArrayEquals(new int[] {24, 3}, r.shape("base_model.model." + Q0 + ".lora_B.weight"));
            assertArrayEquals(new int[] {2, 24}, r.shape("base_model.model." + V0 + ".lora_A.weight"));
            assertArrayEquals(new int[] {12, 2}, r.shape("base_model.model." + V0 + ".lora_B.weight"));
            assertTrue(r.has("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"));
            assertEquals(Map.of("format", "pt"), r.metadata());
        }

        LlamaForCausalLM fresh = model(c);
        assertFalse(Arrays.equals(expected, logits(fresh)), "the adapters must matter for this test");
        LoraConfig read = PeftAdapters.load(a, fresh);
        assertArrayEquals(expected, logits(fresh));
        assertEquals(List.of("q_proj", "v_proj"), read.targetModules());
        assertEquals(Map.of(V0, 2), read.rankPattern());
        assertEquals(Map.of(V0, 4f), read.alphaPattern());
        assertEquals(0.05f, read.dropout());
        LoraAdapter v0 = assertInstanceOf(LoraAdapter.class, module(fresh, V0).adapter());
        assertEquals(2f, v0.scaling());
        assertNull(module(fresh, "model.layers.0.self_attn.k_proj").adapter());
    }

    @Test
    void everyLinearWithDifferingRanksAndMaskedComponentsRoundTrips(@TempDir Path dir) throws Exception {
        LlamaConfig c = config(dir);
        LlamaForCausalLM trained = model(c);
        attachLora(trained, Set.copyOf(ALL_LINEAR), new int[] {1, 2, 3, 4, 5}, 3f, true, true, false, 21);
        // Dynamic LoRA masks: layer 0 q_proj (rank 1) loses its only component, layer 1 down_proj (rank 4) two.
        ((LoraAdapter) module(trained, Q0).adapter()).componentMask()[0] = 0f;
        float[] m = ((LoraAdapter) module(trained, "model.layers.1.mlp.down_proj").adapter()).componentMask();
        m[1] = 0f;
        m[3] = 0f;
        float[] expected = logits(trained);
        Path a = dir.resolve("adapter");
        PeftAdapters.save(a, trained, LoraConfig.of(3, 3f, String.join(",", ALL_LINEAR), true, 0f, 1), null, null);

        JsonNode json = JSON.readTree(a.resolve(PeftFiles.CONFIG_FILE).toFile());
        assertEquals(ALL_LINEAR, JSON.convertValue(json.get("target_modules"), List.class));
        assertEquals(2, json.get("rank_pattern").get("model.layers.1.mlp.down_proj").asInt());
        assertEquals(1, json.get("rank_pattern").get(Q0).asInt(), "a fully pruned adapter is written as rank 1 of zeros");
        assertTrue(json.get("use_rslora").asBoolean());
        // Scaling 3 / sqrt(4) at r' = 2 needs alpha' = 1.5 sqrt(2) for PEFT's alpha' / sqrt(r').
        float s = ((LoraAdapter) module(trained, "model.layers.1.mlp.down_proj").adapter()).scaling();
        assertEquals(s, (float) (json.get("alpha_pattern").get("model.layers.1.mlp.down_proj").asDouble() / Math.sqrt(2)));

        LlamaForCausalLM fresh = model(c);
        LoraConfig read = PeftAdapters.load(a, fresh);
        assertArrayEquals(expected, logits(fresh));
        for (LinearModule lm : fresh.linearModules()) {
            assertInstanceOf(LoraAdapter.class, lm.adapter(), lm.name());
            assertTrue(read.targets(lm.name()), lm.name());
        }
        assertEquals(2, ((LoraAdapter) module(fresh, "model.layers.1.mlp.down_proj").adapter()).rank());

        // PEFT's "all-linear" means every projection of the blocks (lm_head, the output layer, is left out).
        ((ObjectNode) json).put("target_modules", "all-linear");
        JSON.writeValue(a.resolve(PeftFiles.CONFIG_FILE).toFile(), json);
        LlamaForCausalLM again = model(c);
        LoraConfig allLinear = PeftAdapters.load(a, again);
        assertEquals(ALL_LINEAR, allLinear.targetModules());
        assertArrayEquals(expected, logits(again));
    }

    @Test
    void gatedDynamicLoraRoundTripsWithItsPerTokenGates(@TempDir Path dir) throws Exception {
        LlamaConfig c = config(dir);
        LlamaForCausalLM trained = model(c);
        attachLora(trained, Set.of("q_proj", "down_proj"), new int[] {2}, 4f, false, true, true, 31);
        for (LinearModule lm : trained.linearModules()) {
            if (lm.adapter() instanceof LoraAdapter la) {
                la.setGatePerToken(true);
            }
        }
        float[] expected = logits(trained);
        Path a = dir.resolve("adapter");
        PeftAdapters.save(a, trained, LoraConfig.of(2, 4f, "q_proj,down_proj", false, 0f, 1), null, null);
        try (SafetensorsReader r = SafetensorsReader.open(a.resolve(PeftFiles.WEIGHTS_FILE))) {
            assertArrayEquals(new int[] {13}, r.shape("base_model.model.model.layers.0.mlp.down_proj.lora_gate.weight"));
            assertTrue(r.has("base_model.model." + Q0 + ".lora_gate.bias"));
            assertEquals(PeftFiles.GATE_PER_TOKEN, r.metadata().get(PeftFiles.GATE_METADATA));
        }
        LlamaForCausalLM fresh = model(c);
        PeftAdapters.load(a, fresh);
        assertArrayEquals(expected, logits(fresh));
        LoraAdapter q0 = (LoraAdapter) module(fresh, Q0).adapter();
        assertTrue(q0.gated() && q0.gatePerToken());
    }

    @Test
    void adaLoraRoundTripsInPeftsAdaLoraLayout(@TempDir Path dir) throws Exception {
        LlamaConfig c = config(dir);
        LlamaForCausalLM trained = model(c);
        SplittableRandom r = new SplittableRandom(5);
        for (LinearModule lm : trained.linearModules()) {
            if (lm.shortName().equals("q_proj") || lm.shortName().equals("v_proj")) {
                AdaLoraAdapter ad = new AdaLoraAdapter(lm.name(), lm.in(), lm.out(), 4, 5f, 3);
                GradientCheck.randomize(ad.loraB().data(), r, 0.4);
                GradientCheck.randomize(ad.loraE().data(), r, 1.0);
                if (lm.name().equals(Q0)) {
                    ad.loraE().data()[1] = 0f; // pruned
                }
                lm.setAdapter(ad);
            }
        }
        float[] expected = logits(trained);
        Path a = dir.resolve("adapter");
        PeftAdapters.saveAdaLora(a, trained, LoraConfig.of(2, 5f, "q_proj,v_proj", false, 0f, 1),
                new AdaLoraAllocator.Config(4, 2, 3, 4, 2, 0.85, 0.85, 0.5, 20), "tiny-llama");
        JsonNode json = JSON.readTree(a.resolve(PeftFiles.CONFIG_FILE).toFile());
        assertEquals("ADALORA", json.get("peft_type").asText());
        assertEquals("CAUSAL_LM", json.get("task_type").asText());
        assertEquals("[true,false,true,true]", json.get("rank_pattern").get(Q0 + ".lora_E").toString());
        try (SafetensorsReader rd = SafetensorsReader.open(a.resolve(PeftFiles.WEIGHTS_FILE))) {
            assertArrayEquals(new int[] {3, 1}, rd.shape("base_model.model." + Q0 + ".lora_E"));
            assertArrayEquals(new int[] {12, 4}, rd.shape("base_model.model." + V0 + ".lora_B"));
        }
        LlamaForCausalLM fresh = model(c);
        LoraConfig read = PeftAdapters.load(a, fresh);
        assertArrayEquals(expected, logits(fresh));
        assertEquals(Map.of(Q0, 3), read.rankPattern());
    }

    @Test
    void anAdapterForAnotherBaseIsAOneLineErrorAndChangesNothing(@TempDir Path dir) throws Exception {
        LlamaConfig c = config(dir);
        LlamaForCausalLM trained = model(c);
        attachLora(trained, Set.of("q_proj", "v_proj"), new int[] {3}, 5f, false, false, false, 11);
        Path a = dir.resolve("adapter");
        PeftAdapters.save(a, trained, LoraConfig.of(3, 5f, "q_proj,v_proj", false, 0f, 1), "tiny-llama-2x24", null);

        // Same depth, narrower: the shapes do not fit.
        LlamaForCausalLM narrow = TinyLlama.model(TinyLlama.config(dir.resolve("narrow"), 2, 16, 4, 2, 13, 29, true, ""), 7);
        assertUserError(() -> PeftAdapters.load(a, narrow), Q0, "lora_A has shape [3, 24]", "takes 16 inputs",
                "another base model", "tiny-llama-2x24");
        // One layer: the file names a module the model does not have.
        LlamaForCausalLM shallow = TinyLlama.model(TinyLlama.config(dir.resolve("shallow"), 1, 24, 4, 2, 13, 29, true, ""), 7);
        assertUserError(() -> PeftAdapters.load(a, shallow), "model.layers.1.self_attn.q_proj", "does not have",
                "another base model", "tiny-llama-2x24");
        // A BERT classifier's adapter (and its head) is not a Llama's.
        PeftAdaptersTest.editTensors(a, "base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight", null);
        PeftAdaptersTest.editTensors(a, "base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight", null);
        PeftAdaptersTest.editTensors(a, "base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight",
                dev.dynalora.tensor.Tensor.zeros(3, 24));
        LlamaForCausalLM same = model(c);
        assertUserError(() -> PeftAdapters.load(a, same), "bert.encoder.layer.0.attention.self.query", "does not have");
        for (LlamaForCausalLM m : List.of(narrow, shallow, same)) {
            for (LinearModule lm : m.linearModules()) {
                assertNull(lm.adapter(), lm.name());
            }
        }
    }

    static LinearModule module(LlamaForCausalLM m, String name) {
        List<LinearModule> found = new ArrayList<>();
        for (LinearModule lm : m.linearModules()) {
            if (lm.name().equals(name)) {
                found.add(lm);
            }
        }
        assertEquals(1, found.size(), name);
        return found.get(0);
    }
}
