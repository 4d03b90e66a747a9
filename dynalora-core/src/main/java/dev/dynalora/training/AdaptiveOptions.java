package dev.dynalora.training;

import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import dev.dynalora.ConfigException;
import dev.dynalora.Setting;
import dev.dynalora.adapters.DynamicLoraConfig;

/**
 * Options of the adaptive methods. Dynamic LoRA: rMax (allocated rank per module, default 2 x the run's rank
 * so that a module can grow), rMin, tau, and the three switches; its budget is the run's rank per module on
 * average, so it has LoRA's active parameter count. AdaLoRA: initR (default 1.5 x rank, PEFT's 12 for 8) and
 * targetR (default: the rank), orthRegWeight. tInit, tFinal, deltaT: the schedule; negative means "the method's
 * default for the run length". gatePerToken: Dynamic LoRA's gate per token instead of per example (run
 * configurations written before it existed read as false). gateLrRatio: the learning rate of the gate weights
 * w as a fraction of the run's lr (see
 * {@link #DEFAULT_GATE_LR_RATIO}; run configurations written before it existed read as 1, what they trained with).
 * maxRankStep: most components a Dynamic LoRA module gains or loses at one reallocation, 0 for no limit (older
 * run configurations read as 0, what they trained with). parameterBudget: Dynamic LoRA's reallocation keeps the
 * adapters' and gates' parameters within LoRA's at the run's rank, rather than the number of components (the
 * default; older run configurations read as false, the component budget they trained with). gateCentre: Dynamic
 * LoRA's gate reads its input minus a centre measured on the first batch (docs/dynamic-lora.md, "Centred gate";
 * older run configurations read as false).
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
public record AdaptiveOptions(int rMax, int rMin, double tau, boolean importance, boolean reallocation, boolean gate,
                              int initR, int targetR, double orthRegWeight, long tInit, long tFinal, long deltaT,
                              boolean gatePerToken, Double gateLrRatio, Integer maxRankStep, Boolean parameterBudget,
                              Boolean gateCentre) {

    /**
     * The gates' learning rate relative to the adapters' (docs/dynamic-lora.md, "The gate's learning rate"): 0.1
     * since the protocol runs of issue #15, where at 0.01 the gate stayed constant over the examples; 0.01 before.
     */
    public static final double DEFAULT_GATE_LR_RATIO = 0.1;

    /** Components a module may gain or lose at one reallocation (docs/dynamic-lora.md, "Damping the moves"). */
    public static final int DEFAULT_MAX_RANK_STEP = DynamicLoraConfig.DEFAULT_MAX_RANK_STEP;

    /** Dynamic LoRA: the fewest active components a module keeps. */
    public static final int DEFAULT_R_MIN = 1;

    /** Dynamic LoRA: the temperature of the reallocation's softmax. */
    public static final double DEFAULT_TAU = DynamicLoraConfig.DEFAULT_TAU;

    /** AdaLoRA: the weight of the orthogonal regulariser (PEFT's default). */
    public static final double DEFAULT_ORTH_REG_WEIGHT = 0.5;

    /** tInit, tFinal and deltaT at this value: the method's default for the run length. */
    public static final long SCHEDULE_DEFAULT = -1;

    public AdaptiveOptions {
        if (gateLrRatio == null) {
            gateLrRatio = 1.0;
        }
        if (maxRankStep == null) {
            maxRankStep = 0;
        }
        if (parameterBudget == null) {
            parameterBudget = false;
        }
        if (gateCentre == null) {
            gateCentre = false;
        }
        if (maxRankStep < 0) {
            throw new ConfigException(Setting.MAX_RANK_STEP, "must be >= 0 (0: no limit), got " + maxRankStep);
        }
        if (!(gateLrRatio >= 0) || gateLrRatio.isInfinite()) {
            throw new ConfigException(Setting.GATE_LR_RATIO, "must be a finite number >= 0, got " + gateLrRatio);
        }
    }

    public static AdaptiveOptions defaults(int rank) {
        return new AdaptiveOptions(2 * rank, DEFAULT_R_MIN, DEFAULT_TAU, true, true, true,
                Math.max(rank + 1, (3 * rank + 1) / 2), rank, DEFAULT_ORTH_REG_WEIGHT,
                SCHEDULE_DEFAULT, SCHEDULE_DEFAULT, SCHEDULE_DEFAULT, false, DEFAULT_GATE_LR_RATIO, DEFAULT_MAX_RANK_STEP, true, false);
    }

    /** A builder starting from {@link #defaults(int)} for this rank. */
    public static Builder builder(int rank) {
        return new Builder(defaults(rank));
    }

    /** A builder starting from these options. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    /** Named settings over the defaults for a rank: AdaptiveOptions.builder(8).rMax(16).gate(false).build(). */
    public static final class Builder {
        private int rMax;
        private int rMin;
        private double tau;
        private boolean importance;
        private boolean reallocation;
        private boolean gate;
        private int initR;
        private int targetR;
        private double orthRegWeight;
        private long tInit;
        private long tFinal;
        private long deltaT;
        private boolean gatePerToken;
        private Double gateLrRatio;
        private Integer maxRankStep;
        private Boolean parameterBudget;
        private Boolean gateCentre;

        private Builder() {
        }

        private Builder(AdaptiveOptions from) {
            this.rMax = from.rMax();
            this.rMin = from.rMin();
            this.tau = from.tau();
            this.importance = from.importance();
            this.reallocation = from.reallocation();
            this.gate = from.gate();
            this.initR = from.initR();
            this.targetR = from.targetR();
            this.orthRegWeight = from.orthRegWeight();
            this.tInit = from.tInit();
            this.tFinal = from.tFinal();
            this.deltaT = from.deltaT();
            this.gatePerToken = from.gatePerToken();
            this.gateLrRatio = from.gateLrRatio();
            this.maxRankStep = from.maxRankStep();
            this.parameterBudget = from.parameterBudget();
            this.gateCentre = from.gateCentre();
        }

        public Builder rMax(int rMax) {
            this.rMax = rMax;
            return this;
        }

        public Builder rMin(int rMin) {
            this.rMin = rMin;
            return this;
        }

        public Builder tau(double tau) {
            this.tau = tau;
            return this;
        }

        public Builder importance(boolean importance) {
            this.importance = importance;
            return this;
        }

        public Builder reallocation(boolean reallocation) {
            this.reallocation = reallocation;
            return this;
        }

        public Builder gate(boolean gate) {
            this.gate = gate;
            return this;
        }

        public Builder initR(int initR) {
            this.initR = initR;
            return this;
        }

        public Builder targetR(int targetR) {
            this.targetR = targetR;
            return this;
        }

        public Builder orthRegWeight(double orthRegWeight) {
            this.orthRegWeight = orthRegWeight;
            return this;
        }

        public Builder tInit(long tInit) {
            this.tInit = tInit;
            return this;
        }

        public Builder tFinal(long tFinal) {
            this.tFinal = tFinal;
            return this;
        }

        public Builder deltaT(long deltaT) {
            this.deltaT = deltaT;
            return this;
        }

        public Builder gatePerToken(boolean gatePerToken) {
            this.gatePerToken = gatePerToken;
            return this;
        }

        public Builder gateLrRatio(Double gateLrRatio) {
            this.gateLrRatio = gateLrRatio;
            return this;
        }

        public Builder maxRankStep(Integer maxRankStep) {
            this.maxRankStep = maxRankStep;
            return this;
        }

        public Builder parameterBudget(Boolean parameterBudget) {
            this.parameterBudget = parameterBudget;
            return this;
        }

        public Builder gateCentre(Boolean gateCentre) {
            this.gateCentre = gateCentre;
            return this;
        }

        public AdaptiveOptions build() {
            return new AdaptiveOptions(rMax, rMin, tau, importance, reallocation, gate, initR, targetR, orthRegWeight,
                    tInit, tFinal, deltaT, gatePerToken, gateLrRatio, maxRankStep, parameterBudget, gateCentre);
        }
    }
}
