package dev.dynalora.training;

import dev.dynalora.UserInputException;
import dev.dynalora.formats.AtomicFiles;
import dev.dynalora.tensor.Param;

import java.io.IOException;
import java.nio.file.Files;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Takes a run's checkpoints so that checkpoint.safetensors is always a complete state that training could
 * go on from, whatever happens:
 * <ul>
 *   <li>a kill or crash at any instant: each file is written whole under a temporary name and renamed into
 *       place ({@link Checkpoint}), so the name always holds a whole checkpoint;</li>
 *   <li>a divergence: a state can be finite and still doomed (one huge update, and the next forward pass
 *       overflows). So a checkpoint is first written as checkpoint.pending.safetensors and only renamed over
 *       checkpoint.safetensors once the next step has computed a finite loss and gradient from it. When that
 *       step diverges instead, the pending file is deleted and the previous checkpoint, which did lead to a
 *       finite step, stays. A state with a NaN or infinite weight or moment is never written at all.</li>
 * </ul>
 * The last checkpoint of a run has no next step; it is published when training ends. A resumed run ignores
 * (deletes) a pending file: it was never confirmed, and at most one step was taken after it.
 */
final class Checkpointer {
    private final RunFolder run;
    private final TrainConfig config;
    private final List<Param> params;
    private final AdamW opt;
    private final StepHooks hooks;
    private final int trainExamples;
    private final long totalSteps;
    private long confirmed;
    private long pending = -1; // the step of checkpoint.pending.safetensors, -1 when there is none

    /** {@code confirmedStep}: the step of the run's checkpoint.safetensors, -1 when it has none yet. */
    Checkpointer(RunFolder run, TrainConfig config, List<Param> params, AdamW opt, StepHooks hooks, int trainExamples,
                 long totalSteps, long confirmedStep) {
        this.run = run;
        this.config = config;
        this.params = params;
        this.opt = opt;
        this.hooks = hooks;
        this.trainExamples = trainExamples;
        this.totalSteps = totalSteps;
        this.confirmed = confirmedStep;
        discardPending();
    }

    /** The step of checkpoint.safetensors, the one a resume starts from; -1 when there is none. */
    long confirmedStep() {
        return confirmed;
    }

    /**
     * Writes the state after {@code p.step} as the pending checkpoint. The logs are forced to disk first, so
     * that after any crash they are at least as long as the checkpoint records. Returns null, or, without
     * writing anything, the name of a parameter whose weights or moments are no longer finite.
     */
    String save(TrainingProgress p) {
        String bad = Checkpoint.firstNonFinite(params, opt);
        if (bad != null) {
            return bad;
        }
        if (!run.writes()) {
            pending = p.step; // a follower keeps the leader's bookkeeping and writes nothing
            return null;
        }
        Map<String, Long> logs = new LinkedHashMap<>();
        for (String log : List.of(RunFolder.METRICS, RunFolder.ALLOCATION)) {
            run.sync(log);
            logs.put(log, run.size(log));
        }
        Checkpoint.save(run.pendingCheckpoint(), config, p, logs, params, opt, hooks, trainExamples, totalSteps);
        pending = p.step;
        return null;
    }

    /** The step of checkpoint.pending.safetensors, -1 when there is none. */
    long pendingStep() {
        return pending;
    }

    /** A step from the pending state computed a finite loss and gradient: publish it (one atomic rename). */
    void stepSucceeded() {
        publish();
    }

    /** Training is over: the final state has no next step to wait for. */
    void finish() {
        publish();
    }

    /** The step after the pending state diverged: forget that state, keep the confirmed checkpoint. */
    void discardPending() {
        if (!run.writes()) {
            pending = -1;
            return;
        }
        try {
            Files.deleteIfExists(run.pendingCheckpoint());
        } catch (IOException e) {
            throw new UserInputException("cannot delete " + run.pendingCheckpoint() + ": " + e.getMessage());
        }
        pending = -1;
    }

    private void publish() {
        if (pending >= 0) {
            if (run.writes()) {
                AtomicFiles.replace(run.pendingCheckpoint(), run.checkpoint());
            }
            confirmed = pending;
            pending = -1;
        }
    }
}
