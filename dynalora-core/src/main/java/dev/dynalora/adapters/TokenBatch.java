package dev.dynalora.adapters;

/**
 * The shape of the batch flowing through a model: {@code batch} examples of {@code seqLen} tokens laid out
 * as {@code batch * seqLen} rows, with the attention mask (1 real token, 0 padding). Adapters that look at
 * whole examples (the Dynamic LoRA gate averages each example's real tokens) need it; plain ops do not.
 * {@code training} switches dropout on; {@code dropoutSeed} and {@code step} make every dropout mask a pure
 * function of (seed, step, site, index), so results do not depend on the thread count.
 *
 * <p>{@code firstExample} is where these examples start in the training step's whole batch when they are one
 * shard of it (data-parallel training, {@code shards} in TrainConfig; 0 otherwise): every dropout mask is then
 * drawn at the indices the same elements have in the whole batch ({@link #dropoutOffset}), so a shard drops
 * exactly what the whole batch drops on its examples.
 */
public record TokenBatch(int batch, int seqLen, int[] attentionMask, boolean training, long dropoutSeed, long step,
                         int firstExample) {
    public TokenBatch {
        if (attentionMask.length != batch * seqLen) {
            throw new IllegalArgumentException("attention mask has " + attentionMask.length + " entries, expected " + batch * seqLen);
        }
        if (firstExample < 0) {
            throw new IllegalArgumentException("firstExample must be >= 0, got " + firstExample);
        }
    }

    /** A whole batch (firstExample 0). */
    public TokenBatch(int batch, int seqLen, int[] attentionMask, boolean training, long dropoutSeed, long step) {
        this(batch, seqLen, attentionMask, training, dropoutSeed, step, 0);
    }

    /**
     * The dropout index offset of a tensor of {@code n} elements laid out example by example over this batch
     * (hidden states: rows x hidden; attention probabilities: heads x seqLen x seqLen per example; a head's
     * input: hidden per example): firstExample x (n / batch), the index its first element has in the whole
     * batch's tensor. 0 for a whole batch.
     */
    public long dropoutOffset(long n) {
        return firstExample == 0 || batch == 0 ? 0L : (long) firstExample * (n / batch);
    }

    /** The same examples seen as another shape (e.g. one row per example), keeping dropout and shard position. */
    public TokenBatch reshaped(int batch, int seqLen, int[] attentionMask) {
        return new TokenBatch(batch, seqLen, attentionMask, training, dropoutSeed, step, firstExample);
    }

    public int rows() {
        return batch * seqLen;
    }
}
