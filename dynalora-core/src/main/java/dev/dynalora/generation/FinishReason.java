package dev.dynalora.generation;

/** Why a completion ended. */
public enum FinishReason {
    /** The end-of-sequence token or a stop string. */
    STOP,
    /** max new tokens, or the model's context (max_position_embeddings) is full. */
    LENGTH;

    /** The name in output files ("stop", "length"), as OpenAI-style APIs write it. */
    public String json() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
