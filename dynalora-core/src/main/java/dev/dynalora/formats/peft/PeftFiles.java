package dev.dynalora.formats.peft;

/** The names of a PEFT adapter folder's files and of our additions to them (docs/peft-format.md). */
public final class PeftFiles {
    public static final String CONFIG_FILE = "adapter_config.json";
    public static final String WEIGHTS_FILE = "adapter_model.safetensors";
    /** Metadata key of the weights file naming the kind of Dynamic LoRA gate; absent means per example. */
    public static final String GATE_METADATA = "dynalora_gate";
    public static final String GATE_PER_EXAMPLE = "per_example";
    public static final String GATE_PER_TOKEN = "per_token";

    private PeftFiles() {
    }
}
