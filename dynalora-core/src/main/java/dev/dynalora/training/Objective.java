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
    Loss lossAndGradients(Kernels k, int[] idx, long seed, long step);

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
