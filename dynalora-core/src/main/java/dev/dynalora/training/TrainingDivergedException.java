package dev.dynalora.training;

import dev.dynalora.Setting;
import dev.dynalora.UserInputException;
import dev.dynalora.UserMessage;

import java.nio.file.Path;
import java.util.Locale;

/**
 * The loss, the gradient or the weights became NaN or infinite. Reported to the user as a one-line error
 * naming the step (usually the learning rate is too high) and what to do next: the run folder keeps its
 * record in metrics.jsonl, and its last checkpoint, taken before the blow-up and never replaced by the
 * diverged state, can be resumed with a lower learning rate.
 */
public final class TrainingDivergedException extends UserInputException {
    /**
     * @param what           what went non-finite, e.g. "loss NaN, gradient norm Infinity"
     * @param checkpointStep the step of the run's last good checkpoint, or -1 when there is none
     */
    public TrainingDivergedException(long step, String what, long checkpointStep, Path runDir, float peakLr) {
        super(message(step, what, checkpointStep, runDir, peakLr));
    }

    private static UserMessage message(long step, String what, long checkpointStep, Path runDir, float peakLr) {
        String lower = String.format(Locale.ROOT, "%.0e", peakLr / 10);
        String diverged = "training diverged at step " + step + " (" + what + "); ";
        if (checkpointStep < 0) {
            return UserMessage.of(diverged, "no checkpoint was taken yet: start again with a lower ", Setting.LR,
                    " (e.g. " + lower + ") or ", Setting.MAX_GRAD_NORM, " (the same ", Setting.RUN_DIR,
                    " can be used again)");
        }
        return UserMessage.of(diverged, "the checkpoint of step " + checkpointStep + " is kept and can be resumed"
                + " with a lower learning rate: ", RunFolder.resumeHint(runDir), " ", Setting.LR.is(lower));
    }
}
