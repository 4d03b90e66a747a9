package dev.dynalora.models;

/**
 * A causal LM's key/value cache for incremental decoding, opaque outside its family: generation only asks how
 * many sequences (slots) it holds, how long each is, and to clear one for the next prompt. Created by
 * {@link CausalLm#newDecodingCache}, passed back to {@link CausalLm#forwardCached}.
 */
public interface DecodingCache {
    int slots();

    /** Tokens a slot can hold. */
    int capacity();

    /** Tokens cached in a slot so far. */
    int length(int slot);

    /** Empties a slot for a new sequence. */
    void clear(int slot);
}
