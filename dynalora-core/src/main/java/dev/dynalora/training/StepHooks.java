package dev.dynalora.training;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.adapters.AllocatorState;

/**
 * What an adaptive method (AdaLoRA, Dynamic LoRA) does around each optimizer step. The trainer calls these
 * itself on every step, so an allocation can never silently not happen (PEFT's AdaLoRA needs the user to
 * call update_and_allocate by hand). Step indices are zero-based, as passed to {@link ClassifierStep}.
 */
public interface StepHooks {
    /**
     * Once, before the first step of a run that does not resume: {@code firstBatchPass} runs the forward and
     * backward pass of the run's first whole batch and discards its gradients, for a method that measures
     * something of the inputs before training (Dynamic LoRA's gate centres). It is the whole batch on every
     * data-parallel worker, so every worker measures the same. What is measured belongs in
     * {@link #saveState}: a resumed run does not measure again.
     */
    default void beforeFirstStep(Runnable firstBatchPass) {
    }

    /** After backward, before clipping: add a regulariser's gradient; returns the loss it adds. */
    default double regularize(long step) {
        return 0;
    }

    /** After clipping, before the optimizer: measure importance from the gradients. */
    default void beforeOptimizer(long step) {
    }

    /** After the optimizer: restore frozen values, reallocate. */
    default void afterOptimizer(long step) {
    }

    /** One allocation.jsonl record for this step, or null when this method keeps none. */
    default ObjectNode record(long step) {
        return null;
    }

    /** Adds what the method has learned or counted between steps to a checkpoint (nothing by default). */
    default void saveState(AllocatorState state) {
    }

    /** Puts back what {@link #saveState} stored, when a run resumes from a checkpoint. */
    default void restoreState(AllocatorState state) {
    }

    StepHooks NONE = new StepHooks() {
    };
}
