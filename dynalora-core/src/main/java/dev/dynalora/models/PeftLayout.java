package dev.dynalora.models;

import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Where a model family's parameters and modules sit inside its Hugging Face checkpoint and inside PEFT's
 * wrapper: all that adapter files ({@code formats.peft}) and merged exports ({@link HuggingFaceExport}) need to
 * know of a family, so that they never ask which family they hold.
 *
 * <p>Our parameter and module names are those of the family's Hugging Face modules, except that a family may
 * leave out a leading path: BERT's encoder names lack the {@code bert.} of BertForSequenceClassification
 * (so that the same encoder serves every head), while Llama's names are LlamaForCausalLM's as they are.
 *
 * @param taskType      PEFT's task_type: it picks the PeftModel subclass from_pretrained builds (SEQ_CLS for a
 *                      sequence classifier, CAUSAL_LM for a decoder language model)
 * @param modulePrefix  what the Hugging Face name puts before ours ("bert." for BERT, "" for Llama)
 * @param topLevel      first path components that sit beside the prefixed part rather than inside it, and so
 *                      take no prefix (BERT's "classifier", an attribute of BertForSequenceClassification itself)
 * @param headModules   the modules PEFT saves whole (modules_to_save): their parameters, {@link
 *                      AdaptableModel#headParams()}, go into the adapter file, so they may not carry adapters;
 *                      merging folds adapters there too (a test or a user may attach one by hand)
 * @param modulesToSave adapter_config.json's modules_to_save; null when the family has none (PEFT's default)
 * @param outputLinears the linear layers after the adaptable body (BERT's pooler and classifier, Llama's lm_head):
 *                      never adapter targets, but PEFT's target_modules matching sees them, so a target list
 *                      written to a file must not pick them
 */
public record PeftLayout(String taskType, String modulePrefix, Set<String> topLevel, List<LinearModule> headModules,
                         List<String> modulesToSave, List<LinearModule> outputLinears) {

    public PeftLayout {
        Objects.requireNonNull(taskType, "taskType");
        Objects.requireNonNull(modulePrefix, "modulePrefix");
        topLevel = Set.copyOf(topLevel);
        headModules = List.copyOf(headModules);
        modulesToSave = modulesToSave == null ? null : List.copyOf(modulesToSave);
        outputLinears = List.copyOf(outputLinears);
    }

    /** The Hugging Face name (inside the transformers model, which PEFT wraps) of one of our names. */
    public String hfName(String ourName) {
        int dot = ourName.indexOf('.');
        String root = dot < 0 ? ourName : ourName.substring(0, dot);
        return topLevel.contains(root) ? ourName : modulePrefix + ourName;
    }

    /** Our name for a Hugging Face name; a name without the prefix is taken as ours already. */
    public String ourName(String hfName) {
        return !modulePrefix.isEmpty() && hfName.startsWith(modulePrefix) ? hfName.substring(modulePrefix.length()) : hfName;
    }
}
