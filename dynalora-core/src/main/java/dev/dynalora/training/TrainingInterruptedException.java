package dev.dynalora.training;

import dev.dynalora.UserInputException;
import dev.dynalora.UserMessage;

import java.nio.file.Path;

/**
 * The user asked the run to stop (Ctrl-C, SIGTERM): the step in flight was finished and its state saved as the
 * run's checkpoint, so nothing is lost. The message is the one line a user needs: where it stopped and how
 * to continue it (resume, with the run folder).
 */
public final class TrainingInterruptedException extends UserInputException {
    private final long step;

    public TrainingInterruptedException(long step, long totalSteps, Path runDir) {
        super(UserMessage.of("interrupted after step " + step + " of " + totalSteps + "; the checkpoint of step " + step
                + " is saved; continue with: ", RunFolder.resumeHint(runDir)));
        this.step = step;
    }

    public long step() {
        return step;
    }
}
