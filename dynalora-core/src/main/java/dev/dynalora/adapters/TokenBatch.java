package dev.dynalora.adapters;

/**
 * The shape of the batch flowing through a model: {@code batch} examples of {@code seqLen} tokens laid out
 * as {@code batch * seqLen} rows, with the attention mask (1 real token, 0 padding). Adapters that look at
 * whole examples (the Dynamic LoRA gate averages each example's real tokens) need it; plain ops do not.
 * {@code training} switches dropout on; {@code dropoutSeed} and {@code step} make every dropout mask a pure
 * function of (seed, step, site, index), so results do not depend on the thread count.
 */
public record TokenBatch(int batch, int seqLen, int[] attentionMask, boolean training, long dropoutSeed, long step) {
    public TokenBatch {
        if (attentionMask.length != batch * seqLen) {
            throw new IllegalArgumentException("attention mask has " + attentionMask.length + " entries, expected " + batch * seqLen);
        }
    }

    public int rows() {
        return batch * seqLen;
    }
}
