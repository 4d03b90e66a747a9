package dev.dynalora.adapters;

import dev.dynalora.ConfigException;
import dev.dynalora.Setting;
import dev.dynalora.UserInputException;
import dev.dynalora.UserMessage;

/**
 * Settings of Dynamic LoRA (docs/dynamic-lora.md). Every module carries {@code rMax} rank components (the
 * LoRA rank r of the adapter); at most {@code rMax} and at least {@code rMin} of them are active. Each module
 * starts with {@code r0} active components, so the global budget (sum of active ranks) starts at
 * {@code r0 * modules}; it stays there ({@code rTarget == r0}, the default) or moves to
 * {@code rTarget * modules} along AdaLoRA's cubic schedule. With {@code parameterBudget} (the default) that
 * component budget is turned into LoRA's parameter count at the same average rank, gates included, which is what
 * reallocation then keeps (see {@link DynamicLoraAllocator#allocateByCost}).
 *
 * <p>Default r0 = rMax / 2: with a fixed budget and r0 = rMax every module is already at its upper bound, so
 * the only allocation with an exact budget is "all at rMax" and reallocation could never move anything.
 * Half leaves each module room to double or to halve. The compute cost is that of rank rMax either way
 * (masked components still go through the matrix products, which keeps shapes fixed and the step time flat).
 *
 * @param rMax         rank components per module (the adapter's LoRA rank)
 * @param rMin         fewest active components a module keeps, at least 1: a module with none would have no
 *                     measured importance and could never win capacity back
 * @param r0           active components per module at the start
 * @param rTarget      average active rank at the end of the reallocation window (r0: constant budget)
 * @param tInit        steps of plain training before the first reallocation
 * @param tFinal       steps of training with the final allocation frozen
 * @param deltaT       steps between two reallocations
 * @param beta1        EMA coefficient of the sensitivity (AdaLoRA's beta1)
 * @param beta2        EMA coefficient of the uncertainty (AdaLoRA's beta2)
 * @param tau          temperature of softmax(log(importance) / tau)
 * @param maxRankStep  most components a module gains or loses at one reallocation (0: no limit)
 * @param importance   measure per-component importance (needed by reallocation; otherwise only logged)
 * @param reallocation move rank between modules
 * @param gate         per-example input gate g(x) (decided when the adapters are built)
 * @param totalSteps   optimizer steps of the whole run
 * @param parameterBudget whether reallocation keeps the adapters' parameter count (components weighted by what
 *                     they cost, d_in + d_out, with the gates' parameters counted against it) at most that of
 *                     LoRA at the budget's rank, rather than the number of components (see
 *                     {@link DynamicLoraAllocator}); the two agree on modules of one shape without gates
 */
public record DynamicLoraConfig(int rMax, int rMin, int r0, int rTarget, long tInit, long tFinal, long deltaT,
                                double beta1, double beta2, double tau, int maxRankStep,
                                boolean importance, boolean reallocation, boolean gate, long totalSteps,
                                boolean parameterBudget) {

    public static final double DEFAULT_BETA = 0.85;
    /**
     * A component score is sensitivity times uncertainty, both first order in the gradient, so scores are of
     * degree 2 in the gradient scale; tau = 2 makes a module's share proportional to the square root of its
     * importance, i.e. of degree 1: doubling a module's gradients doubles (not quadruples) its claim.
     */
    public static final double DEFAULT_TAU = 2.0;

    /**
     * At most 2 components gained or lost per module and reallocation: unlimited moves oscillated, because a
     * module's mean score rises when it sheds its worst components and falls when it grows zero-score ones
     * (docs/dynamic-lora.md, "Damping the moves").
     */
    public static final int DEFAULT_MAX_RANK_STEP = 2;

    public DynamicLoraConfig {
        if (rMax < 1) {
            throw new ConfigException(Setting.R_MAX, "(Dynamic LoRA) must be at least 1, got " + rMax);
        }
        if (rMin < 1 || rMin > rMax) {
            throw new ConfigException(Setting.R_MIN, "(Dynamic LoRA) must be in [1, ", Setting.R_MAX.is(rMax), "], got " + rMin);
        }
        if (r0 < rMin || r0 > rMax) {
            throw new UserInputException(UserMessage.of("Dynamic LoRA: the initial rank r0 (" + r0 + ") must be in [",
                    Setting.R_MIN.is(rMin), ", ", Setting.R_MAX.is(rMax), "]"));
        }
        if (rTarget < rMin || rTarget > rMax) {
            throw new UserInputException(UserMessage.of("Dynamic LoRA: the target rank (" + rTarget + ") must be in [",
                    Setting.R_MIN.is(rMin), ", ", Setting.R_MAX.is(rMax), "]"));
        }
        if (!(beta1 > 0 && beta1 < 1) || !(beta2 > 0 && beta2 < 1)) {
            throw new UserInputException("Dynamic LoRA: beta1 and beta2 must be in (0, 1), got " + beta1 + ", " + beta2);
        }
        if (!(tau > 0) || Double.isInfinite(tau)) {
            throw new ConfigException(Setting.TAU, "(Dynamic LoRA) must be positive and finite, got " + tau);
        }
        if (maxRankStep < 0) {
            throw new ConfigException(Setting.MAX_RANK_STEP, "(Dynamic LoRA) must be >= 0 (0: no limit), got " + maxRankStep);
        }
        if (reallocation && !importance) {
            throw new UserInputException("Dynamic LoRA: reallocation needs the importance measurement switched on");
        }
        if (!reallocation && rTarget != r0) {
            throw new UserInputException("Dynamic LoRA: a scheduled budget (target rank " + rTarget + " != r0 " + r0
                    + ") needs reallocation switched on");
        }
        if (reallocation) {
            if (tInit < 0) {
                throw new ConfigException(Setting.T_INIT, "(Dynamic LoRA) must be >= 0, got " + tInit);
            }
            if (tFinal < 0) {
                throw new ConfigException(Setting.T_FINAL, "(Dynamic LoRA) must be >= 0, got " + tFinal);
            }
            if (deltaT < 1) {
                throw new ConfigException(Setting.DELTA_T, "(Dynamic LoRA) must be at least 1, got " + deltaT);
            }
            if (totalSteps - tFinal <= tInit) {
                throw new UserInputException(UserMessage.of("Dynamic LoRA: no reallocation window: ",
                        Setting.T_INIT.is(tInit), " and ", Setting.T_FINAL.is(tFinal), " leave no step of the run's "
                        + totalSteps + " between them"));
            }
        }
    }

    /**
     * The defaults: r_min 1, r0 = max(1, r_max / 2), constant budget, beta 0.85 (AdaLoRA's), tau 2, the first
     * 10% of the steps without reallocation (importance estimates need a few EMA windows), the last 20% with
     * the final allocation frozen (so late-grown components get trained), and about 20 reallocations in between.
     */
    public static DynamicLoraConfig defaults(int rMax, long totalSteps) {
        int r0 = Math.max(1, rMax / 2);
        long tInit = totalSteps / 10;
        long tFinal = totalSteps / 5;
        long deltaT = Math.max(1, (totalSteps - tInit - tFinal) / 20);
        boolean window = totalSteps - tFinal > tInit;
        return new DynamicLoraConfig(rMax, 1, r0, r0, tInit, tFinal, deltaT, DEFAULT_BETA, DEFAULT_BETA, DEFAULT_TAU,
                DEFAULT_MAX_RANK_STEP, true, window, true, totalSteps, true);
    }

    /**
     * All three mechanisms off, every component active: the adapters compute exactly plain LoRA of rank
     * {@code rank} (the mask multiplies by 1.0f), which the equivalence test checks bit for bit.
     */
    public static DynamicLoraConfig allOff(int rank, long totalSteps) {
        return new DynamicLoraConfig(rank, 1, rank, rank, 0, 0, 1, DEFAULT_BETA, DEFAULT_BETA, DEFAULT_TAU,
                0, false, false, false, totalSteps, false);
    }

    public DynamicLoraConfig withSwitches(boolean importance, boolean reallocation, boolean gate) {
        return new DynamicLoraConfig(rMax, rMin, r0, rTarget, tInit, tFinal, deltaT, beta1, beta2, tau, maxRankStep,
                importance, reallocation, gate, totalSteps, parameterBudget);
    }

    public DynamicLoraConfig withRanks(int rMin, int r0, int rTarget) {
        return new DynamicLoraConfig(rMax, rMin, r0, rTarget, tInit, tFinal, deltaT, beta1, beta2, tau, maxRankStep,
                importance, reallocation, gate, totalSteps, parameterBudget);
    }

    public DynamicLoraConfig withSchedule(long tInit, long tFinal, long deltaT, long totalSteps) {
        return new DynamicLoraConfig(rMax, rMin, r0, rTarget, tInit, tFinal, deltaT, beta1, beta2, tau, maxRankStep,
                importance, reallocation, gate, totalSteps, parameterBudget);
    }

    public DynamicLoraConfig withMaxRankStep(int maxRankStep) {
        return new DynamicLoraConfig(rMax, rMin, r0, rTarget, tInit, tFinal, deltaT, beta1, beta2, tau, maxRankStep,
                importance, reallocation, gate, totalSteps, parameterBudget);
    }

    public DynamicLoraConfig withParameterBudget(boolean parameterBudget) {
        return new DynamicLoraConfig(rMax, rMin, r0, rTarget, tInit, tFinal, deltaT, beta1, beta2, tau, maxRankStep,
                importance, reallocation, gate, totalSteps, parameterBudget);
    }

    public DynamicLoraConfig withTau(double tau) {
        return new DynamicLoraConfig(rMax, rMin, r0, rTarget, tInit, tFinal, deltaT, beta1, beta2, tau, maxRankStep,
                importance, reallocation, gate, totalSteps, parameterBudget);
    }

    /** The global budget at the start: r0 per module. */
    public int initialBudget(int modules) {
        return r0 * modules;
    }

    /**
     * The global budget after step {@code step}: r0 * modules up to t_init, rTarget * modules from
     * total_steps - t_final on, AdaLoRA's cubic interpolation in between (floored, as PEFT's int()).
     */
    public int budgetAt(long step, int modules) {
        int init = r0 * modules;
        int target = rTarget * modules;
        if (init == target || step <= tInit) {
            return init;
        }
        long end = totalSteps - tFinal;
        if (step >= end) {
            return target;
        }
        double mul = 1 - (double) (step - tInit) / (end - tInit);
        return (int) ((init - target) * (mul * mul * mul) + target);
    }
}
