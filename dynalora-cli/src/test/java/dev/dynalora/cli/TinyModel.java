package dev.dynalora.cli;

import dev.dynalora.formats.ModelConfig;
import dev.dynalora.formats.SafetensorsWriter;
import dev.dynalora.models.bert.BertEncoder;
import dev.dynalora.models.HuggingFaceExport;
import dev.dynalora.models.RandomWeights;
import dev.dynalora.models.bert.SequenceClassifier;
import dev.dynalora.tensor.Param;
import dev.dynalora.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Random BERT model folders small enough that a child JVM spends its time starting, not computing: 2 layers,
 * hidden 32, with MiniLM's tokenizer (hence MiniLM's vocabulary size), so that train, bench forward and bench
 * step all load them like a real model.
 */
final class TinyModel {
    static final ModelConfig CONFIG = ModelConfig.bert(30522, 32, 2, 2, 64, 64);

    private TinyModel() {
    }

    /** A sequence-classification folder (with pooler and classifier), as written by HuggingFaceExport. */
    static Path write(Path dir) {
        RandomWeights w = new RandomWeights(7, 0.02);
        SequenceClassifier model = new SequenceClassifier(new BertEncoder(CONFIG, w), w, 2, 8);
        HuggingFaceExport.write(dir, model, CONFIG, CliRunner.miniLm(), null);
        return dir;
    }

    /** A bare encoder folder with dropout 0.1 in its config.json: training steps take milliseconds. */
    static Path create(Path dir) throws IOException {
        Files.createDirectories(dir);
        // Copied as bytes: Files.copy would keep the shared file's read-only mode.
        Files.write(dir.resolve("tokenizer.json"), Files.readAllBytes(CliRunner.miniLm().resolve("tokenizer.json")));
        Files.writeString(dir.resolve("config.json"), """
                {"model_type": "bert", "vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 2,
                 "num_attention_heads": 2, "intermediate_size": 64, "hidden_act": "gelu",
                 "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 64,
                 "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0}
                """);
        BertEncoder encoder = new BertEncoder(ModelConfig.read(dir), new RandomWeights(7, 0.02));
        Map<String, Tensor> weights = new LinkedHashMap<>();
        for (Param p : encoder.params()) {
            weights.put(p.name(), p.value());
        }
        SafetensorsWriter.write(dir.resolve("model.safetensors"), weights);
        return dir;
    }
}
