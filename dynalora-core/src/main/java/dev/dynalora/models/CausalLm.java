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

    /** The mean loss over the non-ignored targets, with no backward pass (evaluation). */
    float lossOnTargets(Kernels k, int[] ids, int[] targets, TokenBatch batch);

    /** Forward, the mean loss and backward, accumulating into the trainable parameters' gradients. */
    float lossAndGradientsOnTargets(Kernels k, int[] ids, int[] targets, TokenBatch batch);

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
