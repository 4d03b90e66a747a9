package dev.dynalora.models;

import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.List;
import java.util.Objects;

/**
 * What a family's merged Hugging Face folder holds besides {@code model.safetensors} (whose tensor names come
 * from {@link PeftLayout#hfName}): see {@link HuggingFaceExport}.
 *
 * @param config      config.json as transformers should read it back (architectures, torch_dtype float32, ...)
 * @param copiedFiles files of the base model's folder copied when they exist: the tokenizer's, and whatever else
 *                    from_pretrained / AutoTokenizer read for this family. An existing folder holding nothing but
 *                    these, config.json and model.safetensors counts as an earlier export (overwriting may replace it).
 */
public record HfFolderSpec(ObjectNode config, List<String> copiedFiles) {
    public HfFolderSpec {
        Objects.requireNonNull(config, "config");
        copiedFiles = List.copyOf(copiedFiles);
    }
}
