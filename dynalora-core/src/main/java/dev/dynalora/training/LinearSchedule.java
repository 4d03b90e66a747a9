package dev.dynalora.training;

/**
 * Linear warm-up from 0 to the peak learning rate over {@code warmupSteps}, then linear decay to 0 at
 * {@code totalSteps}: Hugging Face's get_linear_schedule_with_warmup.
 */
public final class LinearSchedule {
    private final float peak;
    private final long warmupSteps;
    private final long totalSteps;

    public LinearSchedule(float peak, long warmupSteps, long totalSteps) {
        if (totalSteps <= 0 || warmupSteps < 0) {
            throw new IllegalArgumentException("bad schedule: warmup " + warmupSteps + ", total " + totalSteps);
        }
        this.peak = peak;
        this.warmupSteps = warmupSteps;
        this.totalSteps = totalSteps;
    }

    /** Learning rate for the update with zero-based index {@code step}. */
    public float lr(long step) {
        if (step < warmupSteps) {
            return peak * (float) step / (float) Math.max(1, warmupSteps);
        }
        return peak * Math.max(0f, (float) (totalSteps - step) / (float) Math.max(1, totalSteps - warmupSteps));
    }
}
