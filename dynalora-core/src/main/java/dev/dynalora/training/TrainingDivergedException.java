package dev.dynalora.training;

import dev.dynalora.UserInputException;

/**
 * The loss or the gradient became NaN or infinite. Reported to the user as a one-line error naming the step
 * (usually the learning rate is too high); the run folder keeps its record in metrics.jsonl.
 */
public final class TrainingDivergedException extends UserInputException {
    public TrainingDivergedException(long step, float loss, double gradNorm) {
        super("training diverged at step " + step + ": loss " + loss + ", gradient norm " + gradNorm
                + "; lower --lr (or --max-grad-norm) and try again");
    }
}
