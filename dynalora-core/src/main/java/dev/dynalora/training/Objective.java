package dev.dynalora.training;

import dev.dynalora.kernels.Kernels;

import java.util.Map;
import java.util.function.LongConsumer;

/**
 * What a run learns from and how it is scored, for the {@link Trainer}'s loop, which is the same for every
 * task and model family: a GLUE task on an encoder ({@link ClassificationObjective}), language modelling or
 * instruction tuning on a decoder ({@link CausalLmObjective}).
 */
public interface Objective {
    /** Training examples (the batch planner shuffles and buckets them by length). */
    int trainExamples();

    /** Each training example's length in tokens, for length-bucketed batches. */
    int[] trainLengths();

    /** Validation examples. */
    int evalExamples();

    /** The name of the validation split, as metrics.jsonl records it. */
    String evalSplit();

    /**
     * Forward and backward on the training examples {@code idx}: the loss, gradients accumulated into the
     * trainable parameters (the caller zeroes them first), and the tokens computed (padding included).
     */
    default Loss lossAndGradients(Kernels k, int[] idx, long seed, long step) {
        return lossAndGradients(k, idx, 0, idx.length, seed, step);
    }

    /**
     * Forward and backward on one shard of the training batch {@code batch}: its examples [from, to), padded
     * to the whole batch's longest (so every tensor has the row layout it has in the whole batch), with the
     * dropout masks the whole batch draws on them (see {@link dev.dynalora.adapters.TokenBatch#firstExample})
     * and the loss mean's denominator taken over the whole batch (examples for classification, scored target
     * tokens for a causal LM). Returns this shard's part of the batch's mean loss and its tokens; gradients are
     * accumulated into the trainable parameters (the caller zeroes them first). The shards of a batch sum to
     * the whole batch's loss and gradients up to float rounding; from = 0, to = batch.length is exactly the
     * whole-batch step. Called with from &lt; to.
     */
    Loss lossAndGradients(Kernels k, int[] batch, int from, int to, long seed, long step);

    /** Validation metrics; {@code progress} (may be null) hears how many examples are done. */
    Map<String, Double> evaluate(Kernels k, int batch, LongConsumer progress);

    /** The metric the best evaluation is chosen by. */
    String primaryMetric();

    /** Whether a larger {@link #primaryMetric()} is better (accuracy) or a smaller one (loss). */
    boolean higherIsBetter();

    /** A step's loss and the tokens it computed. */
    record Loss(float loss, long tokens) {
    }
}
