package dev.dynalora.models;

import dev.dynalora.models.bert.SequenceClassifier;

import dev.dynalora.tensor.Param;

import java.util.List;

/**
 * What the training methods, adapters, allocators, checkpoints, adapter files and exports need from a model,
 * whatever its family: its parameters, the ones that always train, the linear projections adapters attach to,
 * and how the family is named in Hugging Face checkpoints and PEFT files. A BERT classifier
 * ({@link SequenceClassifier}) and a Llama causal LM ({@code models.llama.LlamaForCausalLM}) implement it; code
 * outside a family's package works on this interface and never asks which family it holds.
 */
public interface AdaptableModel {
    /** Every parameter, each once (a tied head adds none of its own), in a stable order. */
    List<Param> allParams();

    /**
     * Parameters that train in full under every method: a classification head, which PEFT saves whole as
     * modules_to_save; none for a causal language model, whose head is the pretrained one.
     */
    List<Param> headParams();

    /** The projections adapters may attach to, under their Hugging Face module names, in model order. */
    List<LinearModule> linearModules();

    /**
     * Whether a position may only see earlier positions (a decoder). Then no adapter may mix information across
     * positions either: Dynamic LoRA's input gate is computed per token from that token's features, not from the
     * mean over the sequence, which would carry later tokens into earlier positions.
     */
    default boolean causal() {
        return false;
    }

    /** The default targets of a run: what PEFT users adapt in this family (query,value for BERT, q_proj,v_proj for Llama). */
    String defaultTargets();

    /** Hugging Face names and PEFT's wrapping of this family: what adapter files and exports are built from. */
    PeftLayout peftLayout();

    /** config.json and the base folder's files for a merged Hugging Face folder of this model. */
    HfFolderSpec hfFolder();
}
