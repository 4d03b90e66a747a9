package dev.dynalora.models;

import dev.dynalora.UserInputException;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.models.llama.PretrainedLlama;

import java.nio.file.Path;

/**
 * The one place that maps a folder's config.json model_type to the family that loads it (as transformers'
 * AutoModelForCausalLM does). Adding a family (Qwen2, Mistral) adds a case here and a package beside llama;
 * nothing else in the tree names a family.
 */
public final class AutoModels {
    private AutoModels() {
    }

    /** The causal language model in a Hugging Face folder; a folder of another kind is refused in one line. */
    public static CausalLm causalLm(Path dir) {
        String type = ModelConfig.read(dir).modelType();
        return switch (type) {
            case "llama" -> PretrainedLlama.load(dir);
            default -> throw new UserInputException(dir + ": model_type \"" + type + "\" is not a causal language model"
                    + " (supported: llama); generating text and training on plain text (task lm) or on"
                    + " prompt/completion pairs (task sft) need one");
        };
    }

    /** Whether the folder holds a causal language model (decides which tasks a model can be trained on). */
    public static boolean isCausalLm(Path dir) {
        return "llama".equals(ModelConfig.read(dir).modelType());
    }
}
