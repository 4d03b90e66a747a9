package dev.dynalora.models.bert;

import dev.dynalora.models.CheckpointWeights;

import dev.dynalora.UserInputException;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.formats.SafetensorsReader;

import java.nio.file.Path;

/** Loads a BERT encoder (and optionally a classification head) from a Hugging Face model folder. */
public final class PretrainedBert {
    private PretrainedBert() {
    }

    public static ModelConfig bertConfig(Path dir) {
        ModelConfig c = ModelConfig.read(dir);
        if (!"bert".equals(c.modelType())) {
            throw new UserInputException(dir.resolve("config.json") + ": model_type '" + c.modelType()
                    + "' is not supported by this command yet (supported: bert)");
        }
        return c;
    }

    public static BertEncoder loadEncoder(Path dir) {
        ModelConfig c = bertConfig(dir);
        Path f = CheckpointWeights.file(dir);
        try (SafetensorsReader r = SafetensorsReader.open(f)) {
            return new BertEncoder(c, new CheckpointWeights(r, f));
        }
    }

    /** The encoder plus a sequence-classification head (pooler from the checkpoint if present). */
    public static SequenceClassifier loadClassifier(Path dir, int numLabels, long seed) {
        ModelConfig c = bertConfig(dir);
        Path f = CheckpointWeights.file(dir);
        try (SafetensorsReader r = SafetensorsReader.open(f)) {
            CheckpointWeights w = new CheckpointWeights(r, f);
            return new SequenceClassifier(new BertEncoder(c, w), w, numLabels, seed);
        }
    }
}
