package dev.dynalora.training;

import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import dev.dynalora.UserInputException;

/**
 * Everything that defines a fine-tuning run, as resolved from the command line and its defaults; written
 * to the run folder as run_config.json so eval, predict and resume rebuild exactly the same model.
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
public record TrainConfig(
        String model,
        String task,
        String data,
        String method,
        int rank,
        float alpha,
        String targets,
        boolean rsLora,
        float loraDropout,
        int epochs,
        int batch,
        float lr,
        int maxLen,
        long seed,
        int threads,
        float warmupRatio,
        float weightDecay,
        float maxGradNorm,
        int trainLimit,
        int evalLimit,
        int logEvery,
        int saveEvery,
        AdaptiveOptions adaptive) {

    public void validate() {
        require(rank >= 1, "--rank must be at least 1");
        require(epochs >= 1, "--epochs must be at least 1");
        require(batch >= 1, "--batch must be at least 1");
        require(lr > 0 && Float.isFinite(lr), "--lr must be a positive number");
        require(maxLen >= 8, "--max-len must be at least 8");
        require(threads >= 1, "--threads must be at least 1");
        require(warmupRatio >= 0 && warmupRatio < 1, "--warmup-ratio must be in [0, 1)");
        require(weightDecay >= 0, "--weight-decay must be >= 0");
        require(maxGradNorm >= 0, "--max-grad-norm must be >= 0");
        require(trainLimit >= 0 && evalLimit >= 0, "--limit values must be >= 0");
        require(logEvery >= 1, "--log-every must be at least 1");
        require(saveEvery >= 0, "--save-every must be >= 0 (0: checkpoints at epoch ends only)");
        require(adaptive != null, "adaptive options missing");
    }

    /**
     * This configuration with the settings a resumed run may change: they steer how the rest of the run goes
     * (a lower learning rate after a divergence, another machine's cores), not what model or data it has.
     */
    public TrainConfig withResumeSettings(float lr, float maxGradNorm, int threads, int saveEvery) {
        return new TrainConfig(model, task, data, method, rank, alpha, targets, rsLora, loraDropout, epochs, batch, lr,
                maxLen, seed, threads, warmupRatio, weightDecay, maxGradNorm, trainLimit, evalLimit, logEvery, saveEvery,
                adaptive);
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new UserInputException(message);
        }
    }
}
