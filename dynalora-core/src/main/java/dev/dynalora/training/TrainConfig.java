package dev.dynalora.training;

import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import dev.dynalora.ConfigException;
import dev.dynalora.Setting;

/**
 * Everything that defines a fine-tuning run, with every default resolved; written to the run folder as
 * run_config.json so that evaluation, prediction and a resumed run rebuild exactly the same model. Build one
 * with {@link #builder()}, which holds the defaults; {@link #validate()} names the first wrong setting.
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
        int shards,
        AdaptiveOptions adaptive) {

    /**
     * Checks every setting; the first wrong one is a {@link ConfigException} naming it, what it must be and
     * the value it got.
     */
    public void validate() {
        require(rank >= 1, Setting.RANK, "must be at least 1, got " + rank);
        require(loraDropout >= 0 && loraDropout < 1, Setting.LORA_DROPOUT, "must be in [0, 1), got " + loraDropout);
        require(epochs >= 1, Setting.EPOCHS, "must be at least 1, got " + epochs);
        require(batch >= 1, Setting.BATCH, "must be at least 1, got " + batch);
        require(lr > 0 && Float.isFinite(lr), Setting.LR, "must be a positive number, got " + lr);
        require(maxLen >= 8, Setting.MAX_LEN, "must be at least 8, got " + maxLen);
        require(threads >= 1, Setting.THREADS, "must be at least 1, got " + threads);
        require(warmupRatio >= 0 && warmupRatio < 1, Setting.WARMUP_RATIO, "must be in [0, 1), got " + warmupRatio);
        require(weightDecay >= 0, Setting.WEIGHT_DECAY, "must be >= 0, got " + weightDecay);
        require(maxGradNorm >= 0, Setting.MAX_GRAD_NORM, "must be >= 0 (0: no clipping), got " + maxGradNorm);
        require(trainLimit >= 0, Setting.TRAIN_LIMIT, "must be >= 0 (0: all), got " + trainLimit);
        require(evalLimit >= 0, Setting.EVAL_LIMIT, "must be >= 0 (0: all), got " + evalLimit);
        require(logEvery >= 1, Setting.LOG_EVERY, "must be at least 1, got " + logEvery);
        require(saveEvery >= 0, Setting.SAVE_EVERY, "must be >= 0 (0: checkpoints at epoch ends only), got " + saveEvery);
        require(shards >= 1, Setting.SHARDS, "must be at least 1, got " + shards);
        if (adaptive == null) {
            throw new IllegalArgumentException("adaptive options missing");
        }
    }

    /**
     * Throws unless maxLen fits a model's context of {@code positions} tokens (its max_position_embeddings):
     * refused before any data is read, since a longer example would otherwise fail mid-run.
     */
    public void requireMaxLenWithin(int positions) {
        if (maxLen > positions) {
            throw new ConfigException(Setting.MAX_LEN, maxLen + " exceeds the model's max_position_embeddings "
                    + positions + "; use ", Setting.MAX_LEN.is(positions), " or less");
        }
    }

    /**
     * This configuration with the settings a resumed run may change: they steer how the rest of the run goes
     * (a lower learning rate after a divergence, another machine's cores), not what model or data it has.
     */
    public TrainConfig withResumeSettings(float lr, float maxGradNorm, int threads, int saveEvery) {
        return toBuilder().lr(lr).maxGradNorm(maxGradNorm).threads(threads).saveEvery(saveEvery).build();
    }

    private static void require(boolean ok, Setting setting, String problem) {
        if (!ok) {
            throw new ConfigException(setting, problem);
        }
    }

    /**
     * A builder with the library's defaults, the one place they are defined (front ends show and use these
     * constants): method lora, rank 8, alpha 16, no adapter dropout, 3 epochs, batch 32, lr 5e-4 (LoRA's on an
     * encoder: {@link Method#defaultLearningRate()}, {@link CausalLmRuns#defaultLearningRate} for decoders),
     * max length 128, seed 42, warm-up 6%, weight decay 0.01, gradient norm 1, a log line every 10 steps, a
     * checkpoint every 500, one shard per batch ({@link #DEFAULT_SHARDS}), and the adaptive methods' defaults for rank 8 ({@link AdaptiveOptions#defaults}).
     * Model, task and data must be set; targets too (each family has its own: AdaptableModel.defaultTargets).
     */
    public static Builder builder() {
        Builder b = new Builder();
        b.rank = DEFAULT_RANK;
        b.alpha = DEFAULT_ALPHA;
        b.epochs = DEFAULT_EPOCHS;
        b.batch = DEFAULT_BATCH;
        b.lr = (float) Method.LORA.defaultLearningRate();
        b.maxLen = DEFAULT_MAX_LEN;
        b.seed = DEFAULT_SEED;
        b.threads = Runtime.getRuntime().availableProcessors();
        b.warmupRatio = DEFAULT_WARMUP_RATIO;
        b.weightDecay = DEFAULT_WEIGHT_DECAY;
        b.maxGradNorm = DEFAULT_MAX_GRAD_NORM;
        b.logEvery = DEFAULT_LOG_EVERY;
        b.saveEvery = DEFAULT_SAVE_EVERY;
        b.shards = DEFAULT_SHARDS;
        b.method = DEFAULT_METHOD;
        b.loraDropout = DEFAULT_LORA_DROPOUT;
        b.adaptive = AdaptiveOptions.defaults(DEFAULT_RANK);
        return b;
    }

    public static final String DEFAULT_METHOD = "lora";
    public static final int DEFAULT_RANK = 8;
    public static final float DEFAULT_LORA_DROPOUT = 0f;
    public static final float DEFAULT_ALPHA = 16;
    public static final int DEFAULT_EPOCHS = 3;
    public static final int DEFAULT_BATCH = 32;
    /** For GLUE tasks on encoders; decoders default to the smaller of 256 and their context. */
    public static final int DEFAULT_MAX_LEN = 128;
    public static final long DEFAULT_SEED = 42;
    public static final float DEFAULT_WARMUP_RATIO = 0.06f;
    public static final float DEFAULT_WEIGHT_DECAY = 0.01f;
    public static final float DEFAULT_MAX_GRAD_NORM = 1.0f;
    public static final int DEFAULT_LOG_EVERY = 10;
    public static final int DEFAULT_SAVE_EVERY = 500;
    /**
     * Shards per batch: each batch is split into this many contiguous shards, computed one after another from
     * zeroed gradients and summed in shard order, exactly what as many data-parallel workers compute (see
     * {@link BatchGradients}). 1, the whole batch at once, is the plain step; a run_config.json written before
     * this setting existed reads as 1.
     */
    public static final int DEFAULT_SHARDS = 1;

    /** A builder starting from this configuration. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    /** A configuration by name, over the defaults of {@link #builder()}. */
    public static final class Builder {
        private String model;
        private String task;
        private String data;
        private String method;
        private int rank;
        private float alpha;
        private String targets;
        private boolean rsLora;
        private float loraDropout;
        private int epochs;
        private int batch;
        private float lr;
        private int maxLen;
        private long seed;
        private int threads;
        private float warmupRatio;
        private float weightDecay;
        private float maxGradNorm;
        private int trainLimit;
        private int evalLimit;
        private int logEvery;
        private int saveEvery;
        private int shards;
        private AdaptiveOptions adaptive;

        private Builder() {
        }

        private Builder(TrainConfig from) {
            this.model = from.model();
            this.task = from.task();
            this.data = from.data();
            this.method = from.method();
            this.rank = from.rank();
            this.alpha = from.alpha();
            this.targets = from.targets();
            this.rsLora = from.rsLora();
            this.loraDropout = from.loraDropout();
            this.epochs = from.epochs();
            this.batch = from.batch();
            this.lr = from.lr();
            this.maxLen = from.maxLen();
            this.seed = from.seed();
            this.threads = from.threads();
            this.warmupRatio = from.warmupRatio();
            this.weightDecay = from.weightDecay();
            this.maxGradNorm = from.maxGradNorm();
            this.trainLimit = from.trainLimit();
            this.evalLimit = from.evalLimit();
            this.logEvery = from.logEvery();
            this.saveEvery = from.saveEvery();
            this.shards = from.shards();
            this.adaptive = from.adaptive();
        }

        public Builder model(String model) {
            this.model = model;
            return this;
        }

        public Builder task(String task) {
            this.task = task;
            return this;
        }

        public Builder data(String data) {
            this.data = data;
            return this;
        }

        public Builder method(String method) {
            this.method = method;
            return this;
        }

        public Builder rank(int rank) {
            this.rank = rank;
            return this;
        }

        public Builder alpha(float alpha) {
            this.alpha = alpha;
            return this;
        }

        public Builder targets(String targets) {
            this.targets = targets;
            return this;
        }

        public Builder rsLora(boolean rsLora) {
            this.rsLora = rsLora;
            return this;
        }

        public Builder loraDropout(float loraDropout) {
            this.loraDropout = loraDropout;
            return this;
        }

        public Builder epochs(int epochs) {
            this.epochs = epochs;
            return this;
        }

        public Builder batch(int batch) {
            this.batch = batch;
            return this;
        }

        public Builder lr(float lr) {
            this.lr = lr;
            return this;
        }

        public Builder maxLen(int maxLen) {
            this.maxLen = maxLen;
            return this;
        }

        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        public Builder threads(int threads) {
            this.threads = threads;
            return this;
        }

        public Builder warmupRatio(float warmupRatio) {
            this.warmupRatio = warmupRatio;
            return this;
        }

        public Builder weightDecay(float weightDecay) {
            this.weightDecay = weightDecay;
            return this;
        }

        public Builder maxGradNorm(float maxGradNorm) {
            this.maxGradNorm = maxGradNorm;
            return this;
        }

        public Builder trainLimit(int trainLimit) {
            this.trainLimit = trainLimit;
            return this;
        }

        public Builder evalLimit(int evalLimit) {
            this.evalLimit = evalLimit;
            return this;
        }

        public Builder logEvery(int logEvery) {
            this.logEvery = logEvery;
            return this;
        }

        public Builder saveEvery(int saveEvery) {
            this.saveEvery = saveEvery;
            return this;
        }

        public Builder shards(int shards) {
            this.shards = shards;
            return this;
        }

        public Builder adaptive(AdaptiveOptions adaptive) {
            this.adaptive = adaptive;
            return this;
        }

        public TrainConfig build() {
            return new TrainConfig(model, task, data, method, rank, alpha, targets, rsLora, loraDropout, epochs, batch, lr, maxLen, seed, threads, warmupRatio, weightDecay, maxGradNorm, trainLimit, evalLimit, logEvery, saveEvery, shards, adaptive);
        }
    }
}
