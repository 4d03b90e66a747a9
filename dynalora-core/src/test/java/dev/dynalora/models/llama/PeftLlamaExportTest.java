package dev.dynalora.models.llama;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.SharedData;
import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.formats.SafetensorsReader;
import dev.dynalora.kernels.ReferenceKernels;
import dev.dynalora.models.AdapterMerge;
import dev.dynalora.models.HuggingFaceExport;
import dev.dynalora.models.LinearModule;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import static dev.dynalora.models.AdapterFixtures.assertClose;
import static dev.dynalora.formats.UserErrors.assertUserError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A Llama merged into a Hugging Face LlamaForCausalLM folder (HuggingFaceExport; named Peft* to run with the adapter
 * file tests): it loads back through PretrainedLlama with the logits of base + adapter, carries the base's config as
 * float32, its tokenizer and generation files, lm_head.weight only when the head is not tied, and a gated adapter is
 * refused without leaving a folder.
 */
class PeftLlamaExportTest {
    static final ObjectMapper JSON = new ObjectMapper();

    static float[] logits(LlamaForCausalLM m, int[] ids) {
        int[] mask = new int[ids.length];
        Arrays.fill(mask, 1);
        return m.forward(new ReferenceKernels(), ids, new TokenBatch(1, ids.length, mask, false, 0L, 0L), false).clone();
    }

    @Test
    void mergedStories260kLoadsBackWithTheLogitsOfBasePlusAdapter(@TempDir Path dir) throws Exception {
        Path src = SharedData.modelOrSkip("stories260K");
        LlamaForCausalLM m = PretrainedLlama.load(src);
        int[] ids = {1, 403, 407, 261, 300, 17, 99, 5, 411, 260};
        float[] base = logits(m, ids);
        TinyLlama.attachLora(m, Set.of("q_proj", "v_proj", "down_proj"), new int[] {4, 2}, 8f, false, false, false, 3);
        float[] adapted = logits(m, ids);
        assertTrue(maxDiff(base, adapted) > 1e-2, "the adapter must change the logits for this test");

        Path out = dir.resolve("merged");
        HuggingFaceExport.write(out, m, src, false);
        assertNotNull(m.linearModules().get(0).adapter(), "the export folds adapters into copies; the model keeps them");
        LlamaForCausalLM loaded = PretrainedLlama.load(out);
        assertClose(adapted, logits(loaded, ids), 1e-5);
        // The same merge arithmetic in memory: bit for bit what the folder holds.
        AdapterMerge.merge(m);
        assertArrayEquals(logits(m, ids), logits(loaded, ids));

        JsonNode cfg = JSON.readTree(out.resolve("config.json").toFile());
        assertEquals("LlamaForCausalLM", cfg.get("architectures").get(0).asText());
        assertEquals("float32", cfg.get("torch_dtype").asText());
        assertEquals(4, cfg.get("num_key_value_heads").asInt());
        assertTrue(cfg.get("tie_word_embeddings").asBoolean());
        for (String f : List.of("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "generation_config.json")) {
            assertArrayEquals(Files.readAllBytes(src.resolve(f)), Files.readAllBytes(out.resolve(f)), f);
        }
        try (SafetensorsReader r = SafetensorsReader.open(out.resolve("model.safetensors"))) {
            assertFalse(r.has("lm_head.weight"), "a tied head is the embedding matrix; transformers ties it on load");
            assertTrue(r.has("model.embed_tokens.weight"));
            assertTrue(r.has("model.layers.4.mlp.down_proj.weight"));
            assertTrue(r.has("model.norm.weight"));
            assertEquals(m.allParams().size(), r.names().size());
            assertEquals("F32", r.dtype("model.layers.0.self_attn.q_proj.weight"));
        }
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of("merged"), s.map(p -> p.getFileName().toString()).toList(), "no temporary folder left");
        }
    }

    @Test
    void anUntiedHeadIsWrittenAndAnEarlierExportCanBeOverwritten(@TempDir Path dir) throws Exception {
        Path src = dir.resolve("src");
        LlamaConfig c = TinyLlama.config(src, false);
        Files.writeString(src.resolve("tokenizer.model"), "not really sentencepiece");
        LlamaForCausalLM m = TinyLlama.model(c, 7);
        TinyLlama.attachLora(m, Set.of("o_proj", "up_proj"), new int[] {2}, 4f, false, true, false, 5);
        float[] adapted = TinyLlama.logits(m);
        Path out = dir.resolve("merged");
        HuggingFaceExport.write(out, m, src, false);
        try (SafetensorsReader r = SafetensorsReader.open(out.resolve("model.safetensors"))) {
            assertTrue(r.has("lm_head.weight"));
        }
        assertEquals("not really sentencepiece", Files.readString(out.resolve("tokenizer.model")));
        assertClose(adapted, TinyLlama.logits(PretrainedLlama.load(out)), 1e-5);

        assertUserError(() -> HuggingFaceExport.write(out, m, src, false), "merged", "already exists");
        for (LinearModule lm : m.linearModules()) {
            lm.setAdapter(null);
        }
        HuggingFaceExport.write(out, m, src, true); // holds only what an export writes, tokenizer.model included
        assertArrayEquals(TinyLlama.logits(m), TinyLlama.logits(PretrainedLlama.load(out)));
    }

    @Test
    void aGatedAdapterIsRefusedWithoutAFolder(@TempDir Path dir) throws Exception {
        LlamaConfig c = TinyLlama.config(dir.resolve("src"), true);
        LlamaForCausalLM m = TinyLlama.model(c, 7);
        TinyLlama.attachLora(m, Set.of("q_proj"), new int[] {2}, 4f, false, true, true, 5);
        assertUserError(() -> HuggingFaceExport.write(dir.resolve("merged"), m, dir.resolve("src"), false),
                "cannot export", "model.layers.0.self_attn.q_proj", "gate");
        assertFalse(Files.exists(dir.resolve("merged")));
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of("src"), s.map(p -> p.getFileName().toString()).toList());
        }
    }

    static double maxDiff(float[] a, float[] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) {
            d = Math.max(d, Math.abs(a[i] - b[i]));
        }
        return d;
    }
}
