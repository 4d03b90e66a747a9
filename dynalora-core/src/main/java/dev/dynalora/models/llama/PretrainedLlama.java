package dev.dynalora.models.llama;

import dev.dynalora.formats.SafetensorsReader;
import dev.dynalora.models.CheckpointWeights;

import java.nio.file.Path;

/**
 * Loads a Llama causal LM from a Hugging Face model folder (config.json, model.safetensors with
 * LlamaForCausalLM tensor names). F32, F16 and BF16 weights are converted to float32 as they are read
 * (see {@link SafetensorsReader#readFloat}). Sharded checkpoints (model.safetensors.index.json) are not
 * read yet.
 */
public final class PretrainedLlama {
    private PretrainedLlama() {
    }

    public static LlamaForCausalLM load(Path dir) {
        LlamaConfig c = LlamaConfig.read(dir);
        Path f = CheckpointWeights.file(dir);
        try (SafetensorsReader r = SafetensorsReader.open(f)) {
            // Names are looked up exactly as given (no "bert." prefix fallback).
            return new LlamaForCausalLM(c, new CheckpointWeights(r, f, ""));
        }
    }
}
