package dev.dynalora.models;

import dev.dynalora.models.bert.BertEncoder;
import dev.dynalora.models.bert.SequenceClassifier;

import dev.dynalora.formats.ModelConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A tiny random BERT for tests: written as a config.json so it goes through the real config reader. */
public final class TinyBert {
    private TinyBert() {
    }

    public static ModelConfig config(Path dir, int layers, int hidden, int heads, int ffn, double dropout) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), """
                {"model_type": "bert", "vocab_size": 40, "hidden_size": %d, "num_hidden_layers": %d,
                 "num_attention_heads": %d, "intermediate_size": %d, "hidden_act": "gelu",
                 "hidden_dropout_prob": %s, "attention_probs_dropout_prob": %s, "max_position_embeddings": 16,
                 "type_vocab_size": 2, "initializer_range": 0.2, "layer_norm_eps": 1e-12, "pad_token_id": 0}
                """.formatted(hidden, layers, heads, ffn, dropout, dropout));
        return ModelConfig.read(dir);
    }

    public static SequenceClassifier classifier(ModelConfig c, int labels, long seed) {
        RandomWeights w = new RandomWeights(seed, c.raw().path("initializer_range").asDouble(0.02));
        return new SequenceClassifier(new BertEncoder(c, w), w, labels, seed + 1);
    }
}
