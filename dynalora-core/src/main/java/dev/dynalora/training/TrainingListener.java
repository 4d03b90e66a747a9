package dev.dynalora.training;

import java.util.Map;

/** Progress callbacks of a training run (a front end draws its progress from these). */
public interface TrainingListener {
    default void started(long totalSteps, int trainExamples, int evalExamples) {
    }

    /** A resumed run continues after {@code step} steps (called right after {@link #started}). */
    default void resumed(long step) {
    }

    default void step(long step, float loss, float lr, double tokensPerSecond) {
    }

    default void evaluating(int epoch, int examples) {
    }

    default void evaluated(int epoch, Map<String, Double> metrics) {
    }

    /**
     * Polled after every step: true asks the trainer to stop cleanly (the CLI sets it on Ctrl-C or SIGTERM). The
     * trainer then saves a checkpoint of the state after that step and throws
     * {@link TrainingInterruptedException}.
     */
    default boolean stopRequested() {
        return false;
    }

    TrainingListener NONE = new TrainingListener() {
    };
}
