package dev.dynalora.formats.peft;

import dev.dynalora.models.PeftLayout;

/**
 * Tensor and pattern keys of a PEFT adapter file. A key is the PeftModel's state-dict key with the adapter name
 * removed: {@code base_model.} (the LoraModel) {@code model.} (the wrapped transformers model), then the
 * parameter's Hugging Face name, which the family's {@link PeftLayout} gives for our name:
 * <pre>
 *   base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight    (BERT, SEQ_CLS)
 *   base_model.model.classifier.weight                                          (BERT's head, beside "bert")
 *   base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight              (Llama, CAUSAL_LM)
 * </pre>
 */
final class PeftKeys {
    /** PeftModel.base_model (the LoraModel) .model (the wrapped transformers model). */
    static final String PREFIX = "base_model.model.";

    /** What a LoRA-family key holds for its module. */
    enum Role { A, B, E, GATE_WEIGHT, GATE_BIAS, GATE_CENTRE }

    /** A key split into our module name and the role of its tensor. */
    record LoraKey(String module, Role role) {
    }

    private static final String[] SUFFIXES = {
            ".lora_A.weight", ".lora_A", ".lora_B.weight", ".lora_B", ".lora_E.weight", ".lora_E",
            ".lora_gate.weight", ".lora_gate.bias", ".lora_gate.centre"};
    private static final Role[] ROLES = {Role.A, Role.A, Role.B, Role.B, Role.E, Role.E, Role.GATE_WEIGHT, Role.GATE_BIAS,
            Role.GATE_CENTRE};

    private PeftKeys() {
    }

    /** The file key for one of our parameter names; a name that is a full key already is kept. */
    static String fileKey(PeftLayout layout, String ourName) {
        return ourName.startsWith(PREFIX) ? ourName : PREFIX + layout.hfName(ourName);
    }

    /**
     * Our name for a file key or pattern key, which may come with or without {@code base_model.model.} and with or
     * without the family's prefix (files of PEFT's base PeftModel, or of BertModel rather than the classifier,
     * leave "bert." out).
     */
    static String ourName(PeftLayout layout, String key) {
        String k = key.startsWith(PREFIX) ? key.substring(PREFIX.length()) : key;
        return layout.ourName(k);
    }

    /**
     * Splits our name of a LoRA tensor ("path.lora_A.weight", or AdaLoRA's "path.lora_A" held in a ParameterDict)
     * into module and role; null for anything else.
     */
    static LoraKey split(String ourKey) {
        for (int i = 0; i < SUFFIXES.length; i++) {
            String s = SUFFIXES[i];
            if (ourKey.endsWith(s) && ourKey.length() > s.length()) {
                return new LoraKey(ourKey.substring(0, ourKey.length() - s.length()), ROLES[i]);
            }
        }
        return null;
    }

    /**
     * AdaLoRA's rank_pattern key of a module: the name of its lora_E parameter in the transformers model, adapter
     * name removed, as PEFT's RankAllocator records it ({@code bert.encoder...query.lora_E}).
     */
    static String adaLoraPatternKey(PeftLayout layout, String module) {
        return layout.hfName(module) + ".lora_E";
    }

    /** Our module name for an AdaLoRA rank_pattern key (lora_E, A or B; with or without the adapter name). */
    static String moduleOfAdaLoraPatternKey(PeftLayout layout, String key) {
        String k = ourName(layout, key);
        k = k.endsWith(".default") ? k.substring(0, k.length() - ".default".length()) : k;
        for (String s : new String[] {".lora_E", ".lora_A", ".lora_B"}) {
            if (k.endsWith(s)) {
                return k.substring(0, k.length() - s.length());
            }
        }
        return k;
    }
}
