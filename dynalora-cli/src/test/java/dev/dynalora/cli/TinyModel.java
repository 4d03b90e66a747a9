package dev.dynalora.cli;

import dev.dynalora.formats.ModelConfig;
import dev.dynalora.models.BertEncoder;
import dev.dynalora.models.HuggingFaceExport;
import dev.dynalora.models.RandomWeights;
import dev.dynalora.models.SequenceClassifier;

import java.nio.file.Path;

/**
 * A random BERT small enough that a child JVM spends its time starting, not computing: 2 layers, hidden 32,
 * written as a Hugging Face folder with MiniLM's tokenizer (hence MiniLM's vocabulary size), so that train,
 * bench forward and bench step all load it like a real model.
 */
final class TinyModel {
    static final ModelConfig CONFIG = ModelConfig.bert(30522, 32, 2, 2, 64, 64);

    private TinyModel() {
    }

    static Path write(Path dir) {
        RandomWeights w = new RandomWeights(7, 0.02);
        SequenceClassifier model = new SequenceClassifier(new BertEncoder(CONFIG, w), w, 2, 8);
        HuggingFaceExport.write(dir, model, CONFIG, CliRunner.miniLm(), null);
        return dir;
    }
}
