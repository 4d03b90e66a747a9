package dev.dynalora.cli;

import dev.dynalora.formats.ModelConfig;
import dev.dynalora.formats.SafetensorsWriter;
import dev.dynalora.models.BertEncoder;
import dev.dynalora.models.RandomWeights;
import dev.dynalora.tensor.Param;
import dev.dynalora.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A random BERT model folder (2 layers, hidden size 32, dropout on) with MiniLM's tokenizer: a real model
 * folder for the CLI whose training steps take milliseconds, so tests can run hundreds of them.
 */
final class TinyModel {
    private TinyModel() {
    }

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
