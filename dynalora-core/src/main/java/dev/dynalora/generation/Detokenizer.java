package dev.dynalora.generation;

/** Turns token ids back into text: a tokenizer's decode, skipping special tokens (BOS, EOS). */
@FunctionalInterface
public interface Detokenizer {
    /** The text of ids[from, to). */
    String decode(int[] ids, int from, int to);
}
