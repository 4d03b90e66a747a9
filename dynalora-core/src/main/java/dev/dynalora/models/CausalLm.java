package dev.dynalora.models;

import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.kernels.Kernels;

/**
 * A causal language model, whatever its family: what causal-LM training, evaluation and generation need.
 * Targets are per input position, already shifted (target j is the token that should follow input j), with
 * {@link #IGNORE} where no loss is wanted; the loss is the mean next-token cross-entropy over the others, as
 * torch's cross_entropy(ignore_index=-100) computes it.
 */
public interface CausalLm extends AdaptableModel {
    int IGNORE = -100;

    int vocabSize();

    int bosTokenId();

    /** The end-of-sequence id that sft examples end with (the first, when the config lists several). */
    int eosTokenId();

    /** The longest sequence the model's positions cover. */
    int maxPositions();

    /** Every id that ends a generated sequence (config.json's eos_token_id, one or a list). */
    int[] eosTokenIds();

    /** A key/value cache for {@code slots} sequences of up to {@code capacity} tokens each. */
    DecodingCache newDecodingCache(int slots, int capacity);

    /**
     * Appends tokens[i] to the cached sequence in slots[i] (a whole prompt at prefill, one token per decode
     * step) and returns the next-token logits of each sequence's last token, [slots.length, vocabulary], in a
     * buffer valid until the next call. Attached adapters apply as in {@link #lossAndGradientsOnTargets}.
     */
    float[] forwardCached(Kernels k, DecodingCache cache, int[] slots, int[][] tokens);

    /** The mean loss over the non-ignored targets, with no backward pass (evaluation). */
    float lossOnTargets(Kernels k, int[] ids, int[] targets, TokenBatch batch);

    /** Forward, the mean loss and backward, accumulating into the trainable parameters' gradients. */
    float lossAndGradientsOnTargets(Kernels k, int[] ids, int[] targets, TokenBatch batch);

    /**
     * As above for a shard of a training step's batch (batch.firstExample() where it starts): the loss is a mean
     * over {@code denominator} targets, the whole batch's non-ignored ones, of which this shard holds some;
     * returns this shard's part of that mean and accumulates its gradients. With denominator = the shard's own
     * count it is the call above exactly.
     */
    float lossAndGradientsOnTargets(Kernels k, int[] ids, int[] targets, TokenBatch batch, long denominator);

    /**
     * A generous estimate of the heap one training step on a batch of {@code batch} x {@code seqLen} tokens
     * needs beyond the weights (saved activations, logits, workspace), for the memory guard.
     */
    long trainingActivationBytes(int batch, int seqLen);

    /** Decoders are causal: an adapter's input gate may not look at later tokens. */
    @Override
    default boolean causal() {
        return true;
    }
}
