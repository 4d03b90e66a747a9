package dev.dynalora.adapters;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * What the trainer needs from a method that moves rank between adapters during training (AdaLoRA, Dynamic
 * LoRA) besides its per-step work: a line for {@code allocation.jsonl}, and its state for checkpoints.
 */
public interface RankAllocator {

    /** The allocation after {@code step} steps: per-module importance and rank, budget, gate statistics. */
    ObjectNode allocationRecord(long step);

    /** Writes the state a resumed run needs (scores, masks, schedule position) into {@code state}. */
    void saveState(AllocatorState state);

    /** Restores what {@link #saveState} wrote. */
    void restoreState(AllocatorState state);
}
