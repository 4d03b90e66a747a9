package dev.dynalora.data;

/**
 * One causal-LM training or validation sequence: {@code ids} (at most the block length + 1 tokens); the model
 * reads ids[0 .. n-2] and is scored on predicting ids[j + 1] at every position j from {@code firstTarget} on.
 * Plain text (task {@code lm}) scores every position (firstTarget 0); prompt/completion pairs
 * (task {@code sft}) only the completion: firstTarget = the prompt's length (BOS included) - 1, the
 * position whose next token is the completion's first.
 */
public record LmExample(int[] ids, int firstTarget) {
    public LmExample {
        if (ids.length < 2) {
            throw new IllegalArgumentException("an LM example needs at least 2 tokens, got " + ids.length);
        }
        if (firstTarget < 0) {
            throw new IllegalArgumentException("firstTarget " + firstTarget);
        }
    }

    /** Input positions: the tokens the model reads. */
    public int inputLength() {
        return ids.length - 1;
    }

    /** How many positions are scored. */
    public int targets() {
        return Math.max(0, inputLength() - firstTarget);
    }
}
