package dev.dynalora.models;

import dev.dynalora.models.bert.PretrainedBert;
import dev.dynalora.models.bert.SequenceClassifier;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.formats.SafetensorsReader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static dev.dynalora.models.AdapterFixtures.LABELS;
import static dev.dynalora.models.AdapterFixtures.assertClose;
import static dev.dynalora.formats.UserErrors.assertUserError;
import static dev.dynalora.models.AdapterFixtures.attach;
import static dev.dynalora.models.AdapterFixtures.logits;
import static dev.dynalora.models.AdapterFixtures.model;
import static dev.dynalora.models.AdapterFixtures.scrambleHead;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * HuggingFaceExport (named Peft* to run with the adapter-file tests): the folder loads back through
 * PretrainedBert with the same logits, carries the classification config and tokenizer files, and appears
 * whole or not at all.
 */
class PeftHuggingFaceExportTest {
    static final ObjectMapper JSON = new ObjectMapper();

    /** A source model folder: config.json plus tokenizer files to be copied. */
    static ModelConfig source(Path src) throws Exception {
        ModelConfig c = TinyBert.config(src, 2, 8, 2, 12, 0.0);
        Files.writeString(src.resolve("vocab.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\n");
        Files.writeString(src.resolve("tokenizer_config.json"), "{\"do_lower_case\": true}");
        return c;
    }

    @Test
    void exportedFolderLoadsBackWithIdenticalLogits(@TempDir Path dir) throws Exception {
        Path src = dir.resolve("src");
        ModelConfig c = source(src);
        SequenceClassifier m = model(c, 7, LABELS);
        attach(m, List.of("query", "value"), 2, 4f, false, true, false, 3);
        ((LoraAdapter) m.encoder().linearModules().get(2).adapter()).componentMask()[0] = 0f;
        scrambleHead(m, 4);
        float[] unmerged = logits(m);

        Path out = dir.resolve("export");
        HuggingFaceExport.write(out, m, c, src, new String[] {"entailment", "neutral", "contradiction"});
        // The model itself keeps its adapters: the export folds them into copies.
        assertNotNull(m.encoder().linearModules().get(0).adapter());

        SequenceClassifier loaded = PretrainedBert.loadClassifier(out, LABELS, 123);
        assertTrue(loaded.hasPretrainedPooler());
        // Same merge arithmetic on both sides: bit-identical to merging in memory.
        AdapterMerge.merge(m);
        assertArrayEquals(logits(m), logits(loaded));
        assertClose(unmerged, logits(loaded), 1e-5);

        JsonNode cfg = JSON.readTree(out.resolve("config.json").toFile());
        assertEquals("BertForSequenceClassification", cfg.get("architectures").get(0).asText());
        assertEquals(3, cfg.get("num_labels").asInt());
        assertEquals("neutral", cfg.get("id2label").get("1").asText());
        assertEquals(2, cfg.get("label2id").get("contradiction").asInt());
        assertEquals("single_label_classification", cfg.get("problem_type").asText());
        assertEquals("bert", cfg.get("model_type").asText());
        assertEquals(8, cfg.get("hidden_size").asInt());
        assertEquals("[PAD]\n[UNK]\n[CLS]\n[SEP]\n", Files.readString(out.resolve("vocab.txt")));
        assertTrue(Files.exists(out.resolve("tokenizer_config.json")));
        assertFalse(Files.exists(out.resolve("tokenizer.json")));
        try (SafetensorsReader r = SafetensorsReader.open(out.resolve("model.safetensors"))) {
            assertTrue(r.has("bert.embeddings.word_embeddings.weight"));
            assertTrue(r.has("bert.encoder.layer.1.output.LayerNorm.bias"));
            assertTrue(r.has("bert.pooler.dense.weight"));
            assertTrue(r.has("classifier.weight"));
            assertFalse(r.names().stream().anyMatch(n -> n.contains("lora")));
        }
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of("export", "src"), s.map(p -> p.getFileName().toString()).sorted().toList(),
                    "no temporary folder may be left behind");
        }
    }

    @Test
    void oneLabelIsRegression(@TempDir Path dir) throws Exception {
        ModelConfig c = source(dir.resolve("src"));
        SequenceClassifier m = model(c, 7, 1);
        Path out = dir.resolve("export");
        HuggingFaceExport.write(out, m, c, null, null);
        JsonNode cfg = JSON.readTree(out.resolve("config.json").toFile());
        assertEquals("regression", cfg.get("problem_type").asText());
        assertEquals("LABEL_0", cfg.get("id2label").get("0").asText());
        assertFalse(Files.exists(out.resolve("vocab.txt")));
        assertArrayEquals(logits(m), logits(PretrainedBert.loadClassifier(out, 1, 5)));
    }

    @Test
    void anExistingFolderIsRefusedUnlessOverwriting(@TempDir Path dir) throws Exception {
        ModelConfig c = source(dir.resolve("src"));
        SequenceClassifier m = model(c, 7, LABELS);
        Path out = dir.resolve("export");
        Files.createDirectories(out);
        Files.writeString(out.resolve("old.txt"), "old");
        assertUserError(() -> HuggingFaceExport.write(out, m, c, null, null), "export", "already exists");
        assertTrue(Files.exists(out.resolve("old.txt")));

        // --overwrite replaces an earlier export only, never a folder holding anything else.
        assertUserError(() -> HuggingFaceExport.write(out, m, c, null, null, true), "export", "old.txt");
        assertEquals("old", Files.readString(out.resolve("old.txt")));
        Files.delete(out.resolve("old.txt"));
        HuggingFaceExport.write(out, model(c, 8, LABELS), c, null, null, true); // an empty folder holds nothing foreign
        HuggingFaceExport.write(out, m, c, null, null, true);
        assertArrayEquals(logits(m), logits(PretrainedBert.loadClassifier(out, LABELS, 5)));
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of("export", "src"), s.map(p -> p.getFileName().toString()).sorted().toList());
        }
    }

    @Test
    void gatedAdaptersAndBadLabelsAreRefusedWithoutAFolder(@TempDir Path dir) throws Exception {
        ModelConfig c = source(dir.resolve("src"));
        SequenceClassifier m = model(c, 7, LABELS);
        Path out = dir.resolve("export");
        assertUserError(() -> HuggingFaceExport.write(out, m, c, null, new String[] {"a", "b"}), "2 label names", "3 labels");
        assertUserError(() -> HuggingFaceExport.write(out, m, c, null, new String[] {"a", "b", "a"}), "\"a\"", "twice");
        attach(m, List.of("value"), 2, 4f, false, false, true, 3);
        assertUserError(() -> HuggingFaceExport.write(out, m, c, null, null), "cannot export", "gate");
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of("src"), s.map(p -> p.getFileName().toString()).toList());
        }
    }
}
