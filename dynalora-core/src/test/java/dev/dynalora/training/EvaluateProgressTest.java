package dev.dynalora.training;

import dev.dynalora.data.Example;
import dev.dynalora.data.GlueTask;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.formats.SharedModels;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.models.TinyBert;
import dev.dynalora.models.bert.SequenceClassifier;
import dev.dynalora.tokenize.TextTokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Evaluation reports its progress (what `dynalora eval` draws its progress bar from): every example is
 * counted once, batch by batch, and reporting does not change the metrics.
 */
class EvaluateProgressTest {
    @Test
    void everyExampleIsReportedOnceAndMetricsAreUnchanged(@TempDir Path dir) throws Exception {
        // A random 1-layer BERT with MiniLM's vocabulary, so that real tokenizer ids are valid rows.
        Files.writeString(dir.resolve("config.json"), """
                {"model_type": "bert", "vocab_size": 30522, "hidden_size": 16, "num_hidden_layers": 1,
                 "num_attention_heads": 2, "intermediate_size": 32, "hidden_act": "gelu",
                 "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "max_position_embeddings": 64,
                 "type_vocab_size": 2, "initializer_range": 0.2, "layer_norm_eps": 1e-12, "pad_token_id": 0}
                """);
        SequenceClassifier model = TinyBert.classifier(ModelConfig.read(dir), 2, 5);
        List<Example> examples = new ArrayList<>();
        for (int i = 0; i < 23; i++) {
            examples.add(new Example("example number " + i + " is " + "quite ".repeat(i % 7) + "good", null, i % 2, 0f, i, i + 2));
        }
        EncodedExamples data;
        try (TextTokenizer tok = TextTokenizer.load(SharedModels.model("all-MiniLM-L6-v2"), 32)) {
            data = new EncodedExamples(examples, tok);
        }
        GlueTask sst2 = GlueTask.parse("sst2");
        AtomicLong done = new AtomicLong();
        AtomicInteger calls = new AtomicInteger();
        try (CpuKernels k = new CpuKernels(2)) {
            Map<String, Double> plain = GlueTrainer.evaluate(k, model, sst2, data, 4);
            Map<String, Double> reported = GlueTrainer.evaluate(k, model, sst2, data, 4, n -> {
                assertTrue(n > 0 && n <= 4, "one batch at a time, got " + n);
                done.addAndGet(n);
                calls.incrementAndGet();
            });
            assertEquals(plain, reported);
        }
        assertEquals(23, done.get());
        assertTrue(calls.get() >= 6, "23 examples in batches of 4 are at least 6 reports, got " + calls.get());
    }
}
