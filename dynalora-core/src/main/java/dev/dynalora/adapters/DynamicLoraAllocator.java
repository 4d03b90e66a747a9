package dev.dynalora.adapters;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.UserInputException;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Dynamic LoRA's importance measurement and rank reallocation (docs/dynamic-lora.md), driving the component
 * masks of a set of {@link LoraAdapter}s built with {@code componentMask = true} and rank r_max.
 *
 * <p>Per training step the trainer calls, in this order:
 * <ol>
 *   <li>{@link #observe(long)} after backward (gradients in the parameters), before the optimizer step:
 *       sensitivities are first-order estimates at the parameters the gradient was taken at;</li>
 *   <li>{@link #beforeOptimizerStep()}, {@code optimizer.step(lr)}, {@link #afterOptimizerStep()}: masked
 *       components get a zero gradient, but AdamW's momentum and weight decay would still move them, so their
 *       values are snapshotted and put back (exact, and independent of the optimizer);</li>
 *   <li>{@link #maybeReallocate(long)}: changes the masks for the next step when the schedule says so.</li>
 * </ol>
 * With all switches off every call is a no-op and training is bit-identical to plain LoRA.
 */
public final class DynamicLoraAllocator implements RankAllocator {
    private static final Pattern LAYER = Pattern.compile("(?:^|\\.)layer\\.(\\d+)\\.");

    private final DynamicLoraConfig cfg;
    private final List<LoraAdapter> adapters;
    private final int n;
    private final int r;
    private final String[] layerOf;
    private final double[][] expIpt;     // [module][component] EMA of the sensitivity
    private final double[][] expUnc;     // [module][component] EMA of |sensitivity - its EMA|
    private final boolean[][] everActive;
    private final int[] ranks;
    // What one rank component of each module costs in parameters (d_in + d_out), the gates' parameters, and
    // whether the budget counts parameters (see reallocate): modules of different shapes (attention and MLP
    // projections with all-linear targets) make a component budget unequal in parameters.
    private final long[] cost;
    private final long gateParams;
    private final boolean byParams;
    private final float[][] snapA;       // masked rows of A, saved around the optimizer step
    private final float[][] snapB;       // masked columns of B
    private boolean snapshotHeld;
    private boolean finalized;
    private long observations;
    private long reallocations;
    // Gate statistics over the training examples seen since the last allocation record.
    private final long[] gateN;
    private final double[] gateSum;
    private final double[] gateSq;
    private final double[] gateMin;
    private final double[] gateMax;

    public DynamicLoraAllocator(DynamicLoraConfig cfg, List<LoraAdapter> adapters) {
        if (adapters.isEmpty()) {
            throw new IllegalArgumentException("Dynamic LoRA needs at least one adapter");
        }
        this.cfg = cfg;
        this.adapters = List.copyOf(adapters);
        this.n = this.adapters.size();
        this.r = cfg.rMax();
        boolean needMask = cfg.reallocation() || cfg.r0() < cfg.rMax();
        Set<String> names = new HashSet<>();
        layerOf = new String[n];
        for (int m = 0; m < n; m++) {
            LoraAdapter a = this.adapters.get(m);
            if (a.rank() != r) {
                throw new IllegalArgumentException("adapter " + a.name() + " has rank " + a.rank() + ", Dynamic LoRA r_max is " + r);
            }
            if (needMask && a.componentMask() == null) {
                throw new IllegalArgumentException("adapter " + a.name() + " was built without a component mask");
            }
            if (a.gated() != cfg.gate()) {
                throw new IllegalArgumentException("adapter " + a.name() + (a.gated() ? " has" : " lacks")
                        + " an input gate but the config says gate " + (cfg.gate() ? "on" : "off"));
            }
            if (!names.add(a.name())) {
                throw new IllegalArgumentException("two adapters named " + a.name());
            }
            Matcher mt = LAYER.matcher(a.name());
            layerOf[m] = mt.find() ? mt.group(1) : "other";
        }
        expIpt = new double[n][r];
        expUnc = new double[n][r];
        everActive = new boolean[n][r];
        ranks = new int[n];
        snapA = new float[n][];
        snapB = new float[n][];
        gateN = new long[n];
        gateSum = new double[n];
        gateSq = new double[n];
        gateMin = new double[n];
        gateMax = new double[n];
        resetGateStats();
        cost = new long[n];
        long gates = 0;
        boolean oneShape = true;
        for (int m = 0; m < n; m++) {
            LoraAdapter a = this.adapters.get(m);
            cost[m] = (a.loraA().data().length + a.loraB().data().length) / r;
            oneShape &= cost[m] == cost[0];
            if (a.gated()) {
                gates += a.gateWeight().data().length + a.gateBias().data().length;
            }
        }
        gateParams = gates;
        // Only a budget that moves needs the parameter count: without reallocation every module keeps r0.
        // On modules of one shape without gates the two budgets are the same, and the component arithmetic
        // (exact, and what earlier runs used) is kept.
        byParams = cfg.parameterBudget() && cfg.reallocation() && !(oneShape && gates == 0);
        // Components [0, r_m) start active, r_m = r0 (a parameter budget that r0 everywhere would exceed, because
        // of the gates, starts from the largest uniform share of it); the others are masked and, never having
        // been active, keep B's zero initial columns, so they contribute nothing until they are grown into.
        int[] start = new int[n];
        Arrays.fill(start, cfg.r0());
        if (byParams && spent(start) > parameterBudget(cfg.initialBudget(n))) {
            int[] lo = new int[n];
            int[] hi = new int[n];
            Arrays.fill(lo, cfg.rMin());
            Arrays.fill(hi, cfg.r0());
            double[] uniformRank = new double[n];
            for (int m = 0; m < n; m++) {
                uniformRank[m] = cost[m];
            }
            start = allocateByCost(uniformRank, cost, parameterBudget(cfg.initialBudget(n)), lo, hi);
        }
        for (int m = 0; m < n; m++) {
            float[] mask = this.adapters.get(m).componentMask();
            for (int j = 0; j < r; j++) {
                boolean on = j < start[m];
                everActive[m][j] = on;
                if (mask != null) {
                    mask[j] = on ? 1f : 0f;
                }
            }
            ranks[m] = start[m];
        }
    }

    /**
     * The parameter budget that goes with a component budget: what LoRA's adapters cost at that average rank,
     * budget / modules * sum of the component costs, less the gates' parameters, so that Dynamic LoRA's adapters
     * and gates together hold no more trainable parameters than LoRA's.
     */
    long parameterBudget(int componentBudget) {
        long sum = 0;
        for (long c : cost) {
            sum += c;
        }
        return componentBudget * sum / n - gateParams;
    }

    /** The adapters' parameters in the active components of ranks {@code rk}. */
    private long spent(int[] rk) {
        long s = 0;
        for (int m = 0; m < n; m++) {
            s += rk[m] * cost[m];
        }
        return s;
    }

    /** The parameters in the active components now (gates not included). */
    public long activeAdapterParams() {
        return spent(ranks);
    }

    /** Whether the budget counts parameters (modules of several shapes or gates) rather than components. */
    public boolean parameterBudget() {
        return byParams;
    }

    public DynamicLoraConfig config() {
        return cfg;
    }

    public List<LoraAdapter> adapters() {
        return adapters;
    }

    /** Active components per module, in adapter order. */
    public int[] ranks() {
        return ranks.clone();
    }

    /** Sum of the active ranks. */
    public int activeBudget() {
        int s = 0;
        for (int x : ranks) {
            s += x;
        }
        return s;
    }

    /** Whether the final allocation (at total_steps - t_final) has been made. */
    public boolean finalized() {
        return finalized;
    }

    public long reallocations() {
        return reallocations;
    }

    /** Importance of each component of module m: EMA(sensitivity) * EMA(uncertainty), AdaLoRA's score. */
    public double[] componentScores(int m) {
        double[] s = new double[r];
        for (int j = 0; j < r; j++) {
            s[j] = expIpt[m][j] * expUnc[m][j];
        }
        return s;
    }

    private boolean active(int m, int j) {
        float[] mask = adapters.get(m).componentMask();
        return mask == null || mask[j] != 0f;
    }

    /**
     * Module importance: the mean score of its active components. A mean, not a sum: with a sum a module's
     * importance grows with its rank, so allocation in proportion to it feeds back on itself (the largest
     * module keeps growing); the mean measures what one component is worth there, independent of the rank.
     */
    public double[] moduleImportance() {
        double[] imp = new double[n];
        for (int m = 0; m < n; m++) {
            double s = 0;
            int c = 0;
            for (int j = 0; j < r; j++) {
                if (active(m, j)) {
                    s += expIpt[m][j] * expUnc[m][j];
                    c++;
                }
            }
            imp[m] = c == 0 ? 0 : s / c;
        }
        return imp;
    }

    /** Importance of each transformer layer: the sum over its adapted modules, keyed by layer index. */
    public Map<String, Double> layerImportance() {
        double[] imp = moduleImportance();
        Map<String, Double> layers = new LinkedHashMap<>();
        for (int m = 0; m < n; m++) {
            layers.merge(layerOf[m], imp[m], Double::sum);
        }
        return layers;
    }

    /**
     * Updates the importance estimates from the gradients now in the adapters (call after backward, before
     * the optimizer step). For each active component i of a module:
     * ipt = |sum_k A[i,k] dA[i,k]| + |sum_o B[o,i] dB[o,i]|,
     * expIpt = b1 expIpt + (1-b1) ipt, expUnc = b2 expUnc + (1-b2) |ipt - expIpt| (the updated expIpt, as PEFT).
     * Masked components keep their last estimates. Also collects gate statistics for the allocation record.
     */
    public void observe(long step) {
        if (cfg.gate()) {
            collectGates();
        }
        if (!cfg.importance()) {
            return;
        }
        double b1 = cfg.beta1();
        double b2 = cfg.beta2();
        double[] sb = new double[r];
        for (int m = 0; m < n; m++) {
            LoraAdapter ad = adapters.get(m);
            float[] a = ad.loraA().data();
            float[] da = ad.loraA().grad();
            float[] b = ad.loraB().data();
            float[] db = ad.loraB().grad();
            if (da == null || db == null) {
                throw new IllegalStateException("adapter " + ad.name() + " is frozen: no gradients to score");
            }
            int in = a.length / r;
            int out = b.length / r;
            Arrays.fill(sb, 0);
            // B is [out, r]: walk it row by row and accumulate every column at once (contiguous reads).
            for (int o = 0; o < out; o++) {
                int off = o * r;
                for (int j = 0; j < r; j++) {
                    sb[j] += (double) b[off + j] * db[off + j];
                }
            }
            for (int j = 0; j < r; j++) {
                if (!active(m, j)) {
                    continue;
                }
                double sa = 0;
                int off = j * in;
                for (int k = 0; k < in; k++) {
                    sa += (double) a[off + k] * da[off + k];
                }
                double ipt = Math.abs(sa) + Math.abs(sb[j]);
                double e = b1 * expIpt[m][j] + (1 - b1) * ipt;
                expIpt[m][j] = e;
                expUnc[m][j] = b2 * expUnc[m][j] + (1 - b2) * Math.abs(ipt - e);
            }
        }
        observations++;
    }

    private void collectGates() {
        for (int m = 0; m < n; m++) {
            LoraAdapter ad = adapters.get(m);
            float[] g = ad.lastGates();
            if (g == null) {
                continue;
            }
            int c = ad.lastGateCount();
            for (int e = 0; e < c; e++) {
                double x = g[e];
                gateN[m]++;
                gateSum[m] += x;
                gateSq[m] += x * x;
                gateMin[m] = Math.min(gateMin[m], x);
                gateMax[m] = Math.max(gateMax[m], x);
            }
        }
    }

    private void resetGateStats() {
        Arrays.fill(gateN, 0);
        Arrays.fill(gateSum, 0);
        Arrays.fill(gateSq, 0);
        Arrays.fill(gateMin, Double.POSITIVE_INFINITY);
        Arrays.fill(gateMax, Double.NEGATIVE_INFINITY);
    }

    /** Saves the values of masked components; pair with {@link #afterOptimizerStep()}. */
    public void beforeOptimizerStep() {
        if (snapshotHeld) {
            throw new IllegalStateException("beforeOptimizerStep called twice without afterOptimizerStep");
        }
        for (int m = 0; m < n; m++) {
            LoraAdapter ad = adapters.get(m);
            float[] mask = ad.componentMask();
            if (mask == null || ranks[m] == r) {
                continue;
            }
            float[] a = ad.loraA().data();
            float[] b = ad.loraB().data();
            if (snapA[m] == null) {
                snapA[m] = new float[a.length];
                snapB[m] = new float[b.length];
            }
            int in = a.length / r;
            int out = b.length / r;
            for (int j = 0; j < r; j++) {
                if (mask[j] != 0f) {
                    continue;
                }
                System.arraycopy(a, j * in, snapA[m], j * in, in);
                for (int o = 0; o < out; o++) {
                    snapB[m][o * r + j] = b[o * r + j];
                }
            }
        }
        snapshotHeld = true;
    }

    /** Puts the masked components' values back as they were before the optimizer step. */
    public void afterOptimizerStep() {
        if (!snapshotHeld) {
            throw new IllegalStateException("afterOptimizerStep without beforeOptimizerStep");
        }
        for (int m = 0; m < n; m++) {
            LoraAdapter ad = adapters.get(m);
            float[] mask = ad.componentMask();
            if (mask == null || ranks[m] == r) {
                continue;
            }
            float[] a = ad.loraA().data();
            float[] b = ad.loraB().data();
            int in = a.length / r;
            int out = b.length / r;
            for (int j = 0; j < r; j++) {
                if (mask[j] != 0f) {
                    continue;
                }
                System.arraycopy(snapA[m], j * in, a, j * in, in);
                for (int o = 0; o < out; o++) {
                    b[o * r + j] = snapB[m][o * r + j];
                }
            }
        }
        snapshotHeld = false;
    }

    /** Whether step {@code step} (the index of the step just taken) is a reallocation step. */
    public boolean isReallocationStep(long step) {
        if (!cfg.reallocation() || finalized || step <= cfg.tInit()) {
            return false;
        }
        return step >= cfg.totalSteps() - cfg.tFinal() || step % cfg.deltaT() == 0;
    }

    /**
     * Reallocates rank when the schedule says so: between t_init and total_steps - t_final every delta_t steps,
     * and once more at total_steps - t_final, after which the allocation is frozen. Returns whether it ran.
     * Call after the optimizer step (and {@link #afterOptimizerStep()}): the new masks apply from the next step.
     */
    public boolean maybeReallocate(long step) {
        if (!isReallocationStep(step)) {
            return false;
        }
        reallocate(cfg.budgetAt(step, n));
        if (step >= cfg.totalSteps() - cfg.tFinal()) {
            finalized = true;
        }
        return true;
    }

    /** Redistributes {@code budget} active components over the modules now (exposed for tests). */
    void reallocate(int budget) {
        if (snapshotHeld) {
            throw new IllegalStateException("reallocation between beforeOptimizerStep and afterOptimizerStep");
        }
        int[] lo = new int[n];
        int[] hi = new int[n];
        long sumLo = 0;
        long sumHi = 0;
        long costLo = 0;
        for (int m = 0; m < n; m++) {
            int k = cfg.maxRankStep();
            lo[m] = k > 0 ? Math.max(cfg.rMin(), ranks[m] - k) : cfg.rMin();
            hi[m] = k > 0 ? Math.min(cfg.rMax(), ranks[m] + k) : cfg.rMax();
            sumLo += lo[m];
            sumHi += hi[m];
            costLo += lo[m] * cost[m];
        }
        int[] target;
        if (byParams) {
            long paramBudget = parameterBudget(budget);
            if (costLo > paramBudget) {
                // A shrinking scheduled budget that the step limit cannot follow: the limit gives way.
                Arrays.fill(lo, cfg.rMin());
                Arrays.fill(hi, cfg.rMax());
            }
            target = allocateByCost(weights(moduleImportance(), cfg.tau()), cost, paramBudget, lo, hi);
        } else {
            if (sumLo > budget || sumHi < budget) {
                // A scheduled budget that moves faster than the step limit allows: the limit gives way to the budget.
                Arrays.fill(lo, cfg.rMin());
                Arrays.fill(hi, cfg.rMax());
            }
            target = allocate(weights(moduleImportance(), cfg.tau()), budget, lo, hi);
        }
        for (int m = 0; m < n; m++) {
            setRank(m, target[m]);
        }
        reallocations++;
    }

    /**
     * softmax(log(importance) / tau) without the normalisation (allocate() only needs proportions), computed
     * as exp((log imp - max log imp) / tau) so that no importance over- or underflows. Modules of zero
     * importance get weight 0; if no module has a positive finite importance all weights are equal.
     */
    static double[] weights(double[] importance, double tau) {
        double maxLog = Double.NEGATIVE_INFINITY;
        for (double x : importance) {
            if (x > 0 && Double.isFinite(x)) {
                maxLog = Math.max(maxLog, Math.log(x));
            }
        }
        double[] w = new double[importance.length];
        if (maxLog == Double.NEGATIVE_INFINITY) {
            Arrays.fill(w, 1);
            return w;
        }
        for (int m = 0; m < w.length; m++) {
            double x = importance[m];
            w[m] = x > 0 && Double.isFinite(x) ? Math.exp((Math.log(x) - maxLog) / tau) : 0;
        }
        return w;
    }

    /**
     * Integer ranks in [lo, hi] summing exactly to {@code budget}, proportional to {@code weights} where the
     * bounds allow: first the continuous water-filling solution x_m = clamp(lambda w_m, lo, hi) with
     * sum x = budget (zero-weight modules sit at lo unless the others are all at hi), then largest-remainder
     * rounding: floor every x_m and hand the missing units to the largest fractional parts (ties: larger
     * weight, then lower index). Monotone: w_a > w_b implies rank_a >= rank_b.
     */
    public static int[] allocate(double[] weights, int budget, int lo, int hi) {
        int n = weights.length;
        if (lo < 0 || hi < lo) {
            throw new IllegalArgumentException("bad bounds [" + lo + ", " + hi + "]");
        }
        int[] los = new int[n];
        int[] his = new int[n];
        Arrays.fill(los, lo);
        Arrays.fill(his, hi);
        return allocate(weights, budget, los, his);
    }

    /**
     * Integer ranks in [lo[m], hi[m]] whose parameters, sum of rank_m * cost[m], stay within {@code budget} and
     * come as close to it as whole components allow: the allocation of a parameter budget over modules whose
     * components cost different amounts (an MLP projection's d_in + d_out against an attention projection's).
     * Each module's <em>parameters</em> are proportional to its weight where the bounds allow: the continuous
     * solution is x_m = clamp(lambda w_m / cost_m, lo_m, hi_m) with sum x_m cost_m = budget (lambda by bisection;
     * a component's weight per parameter is what it buys, so two modules of equal importance get equal
     * parameters, not equal ranks), then every x_m is floored and components are added back, largest fractional
     * part first, while they fit. Zero-weight modules sit at lo until every other module is at hi. With equal
     * costs this is the proportional rule of {@link #allocate(double[], int, int[], int[])} up to rounding.
     *
     * @throws IllegalArgumentException if even the lower bounds cost more than the budget
     */
    public static int[] allocateByCost(double[] weights, long[] cost, long budget, int[] lo, int[] hi) {
        int n = weights.length;
        if (cost.length != n || lo.length != n || hi.length != n) {
            throw new IllegalArgumentException("weights, costs and bounds differ in length");
        }
        long atLo = 0;
        long atHi = 0;
        double minPositive = Double.POSITIVE_INFINITY;
        for (int m = 0; m < n; m++) {
            if (lo[m] < 0 || hi[m] < lo[m] || cost[m] <= 0) {
                throw new IllegalArgumentException("module " + m + ": bounds [" + lo[m] + ", " + hi[m] + "], cost " + cost[m]);
            }
            atLo += lo[m] * cost[m];
            atHi += hi[m] * cost[m];
            if (weights[m] > 0 && Double.isFinite(weights[m])) {
                minPositive = Math.min(minPositive, weights[m]);
            }
        }
        if (atLo > budget) {
            throw new IllegalArgumentException("the lower bounds cost " + atLo + " parameters, over the budget of " + budget);
        }
        int[] rank = new int[n];
        if (atHi <= budget) {
            System.arraycopy(hi, 0, rank, 0, n);
            return rank;
        }
        // Zero (or non-finite) weights get a weight far below every positive one: they rise only once the others
        // are all at their upper bounds. With no positive weight at all, equal weights.
        double[] w = new double[n];
        for (int m = 0; m < n; m++) {
            boolean ok = weights[m] > 0 && Double.isFinite(weights[m]);
            w[m] = minPositive == Double.POSITIVE_INFINITY ? 1 : ok ? weights[m] : minPositive * 1e-12;
        }
        double lamLo = 0;
        double lamHi = 0;
        for (int m = 0; m < n; m++) {
            lamHi = Math.max(lamHi, hi[m] * (double) cost[m] / w[m]);
        }
        for (int it = 0; it < 200 && lamHi - lamLo > 1e-15 * lamHi; it++) {
            double mid = 0.5 * (lamLo + lamHi);
            if (costAt(mid, w, cost, lo, hi) <= budget) {
                lamLo = mid;
            } else {
                lamHi = mid;
            }
        }
        double[] x = new double[n];
        long spent = 0;
        for (int m = 0; m < n; m++) {
            x[m] = Math.min(hi[m], Math.max(lo[m], lamLo * w[m] / cost[m]));
            rank[m] = Math.max(lo[m], (int) Math.floor(x[m]));
            spent += rank[m] * cost[m];
        }
        Integer[] order = new Integer[n];
        for (int m = 0; m < n; m++) {
            order[m] = m;
        }
        double[] frac = new double[n];
        for (int m = 0; m < n; m++) {
            frac[m] = x[m] - rank[m];
        }
        Arrays.sort(order, Comparator.<Integer>comparingDouble(m -> -frac[m]).thenComparingDouble(m -> -w[m] / cost[m])
                .thenComparingInt(m -> m));
        for (int m : order) {
            if (rank[m] < hi[m] && spent + cost[m] <= budget) {
                rank[m]++;
                spent += cost[m];
            }
        }
        // What is left may still buy a component somewhere (a cheaper module's): best weight per parameter first.
        Arrays.sort(order, Comparator.<Integer>comparingDouble(m -> -w[m] / cost[m]).thenComparingInt(m -> m));
        boolean added = true;
        while (added) {
            added = false;
            for (int m : order) {
                if (rank[m] < hi[m] && spent + cost[m] <= budget) {
                    rank[m]++;
                    spent += cost[m];
                    added = true;
                    break;
                }
            }
        }
        return rank;
    }

    private static double costAt(double lambda, double[] w, long[] cost, int[] lo, int[] hi) {
        double s = 0;
        for (int m = 0; m < w.length; m++) {
            s += Math.min(hi[m], Math.max(lo[m], lambda * w[m] / cost[m])) * cost[m];
        }
        return s;
    }

    /**
     * As {@link #allocate(double[], int, int, int)} with bounds of its own for each module, [lo[m], hi[m]]:
     * the move limit of a reallocation (at most max_rank_step components gained or lost) is expressed this way.
     */
    public static int[] allocate(double[] weights, int budget, int[] lo, int[] hi) {
        int n = weights.length;
        if (lo.length != n || hi.length != n) {
            throw new IllegalArgumentException("bounds for " + lo.length + " / " + hi.length + " modules, weights for " + n);
        }
        long sumLo = 0;
        long sumHi = 0;
        for (int m = 0; m < n; m++) {
            if (lo[m] < 0 || hi[m] < lo[m]) {
                throw new IllegalArgumentException("bad bounds [" + lo[m] + ", " + hi[m] + "] for module " + m);
            }
            sumLo += lo[m];
            sumHi += hi[m];
        }
        if (sumLo > budget || sumHi < budget) {
            throw new IllegalArgumentException("budget " + budget + " cannot be split over " + n + " modules within"
                    + " their bounds (sum of lower bounds " + sumLo + ", of upper bounds " + sumHi + ")");
        }
        for (double w : weights) {
            if (!(w >= 0) || Double.isInfinite(w)) {
                throw new IllegalArgumentException("weights must be finite and >= 0, got " + w);
            }
        }
        double[] x = waterFill(weights, budget, lo, hi);
        int[] rank = new int[n];
        long sum = 0;
        for (int m = 0; m < n; m++) {
            rank[m] = Math.max(lo[m], Math.min(hi[m], (int) Math.floor(x[m])));
            sum += rank[m];
        }
        // Floors sum to at most the budget; rounding noise in x could leave it one off either way, so both loops.
        Integer[] order = new Integer[n];
        for (int m = 0; m < n; m++) {
            order[m] = m;
        }
        Comparator<Integer> byRemainder = Comparator.<Integer>comparingDouble(m -> x[m] - rank[m]).reversed()
                .thenComparing(Comparator.<Integer>comparingDouble(m -> weights[m]).reversed())
                .thenComparingInt(m -> m);
        while (sum != budget) {
            Arrays.sort(order, byRemainder);
            if (sum < budget) {
                for (int i = 0; i < n && sum < budget; i++) {
                    if (rank[order[i]] < hi[order[i]]) {
                        rank[order[i]]++;
                        sum++;
                    }
                }
            } else {
                for (int i = n - 1; i >= 0 && sum > budget; i--) {
                    if (rank[order[i]] > lo[order[i]]) {
                        rank[order[i]]--;
                        sum--;
                    }
                }
            }
        }
        return rank;
    }

    /**
     * The continuous allocation. f(lambda) = sum_m clamp(lambda w_m, lo_m, hi_m) is piecewise linear and
     * non-decreasing with breakpoints lo_m / w_m and hi_m / w_m, so lambda is found exactly by locating the
     * segment where f crosses the budget and interpolating (no iteration, no tolerance). Zero-weight modules sit
     * at their lower bounds unless every weighted module is at its upper bound; then they share what is left
     * the same way, with equal weights.
     */
    private static double[] waterFill(double[] w, int budget, int[] lo, int[] hi) {
        int n = w.length;
        double[] x = new double[n];
        List<Integer> pos = new ArrayList<>();
        double saturated = 0;
        for (int m = 0; m < n; m++) {
            if (w[m] > 0) {
                pos.add(m);
                saturated += hi[m];
            } else {
                saturated += lo[m];
            }
        }
        if (pos.isEmpty() || budget >= saturated) {
            long allHi = 0;
            for (int m = 0; m < n; m++) {
                allHi += hi[m];
            }
            if (budget >= allHi) {
                for (int m = 0; m < n; m++) {
                    x[m] = hi[m];
                }
                return x;
            }
            if (pos.isEmpty()) {
                double[] ones = new double[n];
                Arrays.fill(ones, 1);
                return waterFill(ones, budget, lo, hi);
            }
            // Every weighted module at its upper bound; the zero-weight ones share the rest with equal weights.
            double[] eq = new double[n];
            int rest = budget;
            for (int m = 0; m < n; m++) {
                if (w[m] > 0) {
                    rest -= hi[m];
                } else {
                    eq[m] = 1;
                }
            }
            int[] lo2 = lo.clone();
            int[] hi2 = hi.clone();
            for (int m : pos) {
                lo2[m] = 0;
                hi2[m] = 0;
            }
            double[] y = waterFill(eq, rest, lo2, hi2);
            for (int m = 0; m < n; m++) {
                x[m] = w[m] > 0 ? hi[m] : y[m];
            }
            return x;
        }
        double[] breaks = new double[2 * pos.size() + 1];
        int nb = 0;
        breaks[nb++] = 0;
        for (int m : pos) {
            breaks[nb++] = lo[m] / w[m];
            breaks[nb++] = hi[m] / w[m];
        }
        Arrays.sort(breaks, 0, nb);
        double prevL = 0;
        double prevF = f(w, 0, lo, hi);
        double lambda = 0;
        for (int i = 0; i < nb; i++) {
            double l = breaks[i];
            double fl = f(w, l, lo, hi);
            if (fl >= budget) {
                lambda = fl == prevF ? l : prevL + (budget - prevF) * (l - prevL) / (fl - prevF);
                break;
            }
            prevL = l;
            prevF = fl;
        }
        for (int m = 0; m < n; m++) {
            x[m] = clamp(lambda * w[m], lo[m], hi[m]);
        }
        return x;
    }

    private static double f(double[] w, double lambda, int[] lo, int[] hi) {
        double s = 0;
        for (int m = 0; m < w.length; m++) {
            s += clamp(lambda * w[m], lo[m], hi[m]);
        }
        return s;
    }

    private static double clamp(double v, double lo, double hi) {
        return Math.max(lo, Math.min(hi, v));
    }

    /**
     * Sets module m to k active components. Shrinking keeps the k highest-scoring active components; growing
     * adds inactive ones by their (last measured) score, then by index. A component activated for the first time
     * gets a zero column in B so that growing leaves the module's output unchanged; one that was active before
     * comes back with the values it had (masked components are never modified).
     */
    private void setRank(int m, int k) {
        LoraAdapter ad = adapters.get(m);
        float[] mask = ad.componentMask();
        double[] score = componentScores(m);
        List<Integer> on = new ArrayList<>();
        List<Integer> off = new ArrayList<>();
        for (int j = 0; j < r; j++) {
            (active(m, j) ? on : off).add(j);
        }
        Comparator<Integer> best = Comparator.<Integer>comparingDouble(j -> score[j]).reversed().thenComparingInt(j -> j);
        if (k < on.size()) {
            on.sort(best);
            for (int i = k; i < on.size(); i++) {
                mask[on.get(i)] = 0f;
            }
        } else if (k > on.size()) {
            off.sort(best);
            float[] b = ad.loraB().data();
            int out = b.length / r;
            for (int i = 0; i < k - on.size(); i++) {
                int j = off.get(i);
                if (!everActive[m][j]) {
                    for (int o = 0; o < out; o++) {
                        b[o * r + j] = 0f;
                    }
                    everActive[m][j] = true;
                }
                mask[j] = 1f;
            }
        }
        ranks[m] = k;
    }

    /** Module name to active rank: PEFT's rank_pattern for exporting the active components as plain LoRA. */
    public Map<String, Integer> rankPattern() {
        Map<String, Integer> p = new LinkedHashMap<>();
        for (int m = 0; m < n; m++) {
            p.put(adapters.get(m).name(), ranks[m]);
        }
        return p;
    }

    /** Indices of the active components of an adapter (all of them without a mask), in increasing order. */
    public static int[] activeComponents(LoraAdapter a) {
        float[] mask = a.componentMask();
        return java.util.stream.IntStream.range(0, a.rank()).filter(j -> mask == null || mask[j] != 0f).toArray();
    }

    /**
     * The lora_alpha that keeps a component's scale when a module is exported as plain LoRA of rank
     * {@code exportRank}: training used s = alpha / r_max (alpha / sqrt(r_max) with rsLoRA) for every module,
     * and PEFT computes s from the exported rank, so alpha_m = alpha * r_m / r_max (alpha * sqrt(r_m / r_max)).
     */
    public static float exportAlpha(float alpha, boolean rsLora, int rMax, int exportRank) {
        double ratio = (double) exportRank / rMax;
        return (float) (alpha * (rsLora ? Math.sqrt(ratio) : ratio));
    }

    /**
     * One allocation.jsonl line: {"step", "budget", "modules": {name: {"importance", "rank", "gate_mean",
     * "gate_std", "gate_min", "gate_max", "gate_examples"}}, "layers": {"0": importance, ...}}. Gate statistics
     * cover the training examples observed since the previous record, which this call starts afresh.
     * Importance fields appear only with the measurement on, gate fields only with the gate on.
     */
    @Override
    public ObjectNode allocationRecord(long step) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode rec = f.objectNode();
        rec.put("step", step);
        rec.put("budget", activeBudget());
        if (byParams) {
            rec.put("active_params", activeAdapterParams() + gateParams);
            // LoRA's count at the budget's rank, which active_params (adapters and gates) stays within.
            rec.put("params_budget", parameterBudget(cfg.budgetAt(step, n)) + gateParams);
        }
        double[] imp = moduleImportance();
        ObjectNode mods = rec.putObject("modules");
        for (int m = 0; m < n; m++) {
            ObjectNode o = mods.putObject(adapters.get(m).name());
            if (cfg.importance()) {
                putNumber(o, "importance", imp[m]);
            }
            o.put("rank", ranks[m]);
            if (cfg.gate()) {
                long c = gateN[m];
                o.put("gate_examples", c);
                if (c > 0) {
                    double mean = gateSum[m] / c;
                    putNumber(o, "gate_mean", mean);
                    putNumber(o, "gate_std", Math.sqrt(Math.max(0, gateSq[m] / c - mean * mean)));
                    putNumber(o, "gate_min", gateMin[m]);
                    putNumber(o, "gate_max", gateMax[m]);
                }
            }
        }
        if (cfg.importance()) {
            ObjectNode layers = rec.putObject("layers");
            for (Map.Entry<String, Double> e : layerImportance().entrySet()) {
                putNumber(layers, e.getKey(), e.getValue());
            }
        }
        resetGateStats();
        return rec;
    }

    /**
     * Everything this allocator learned or counted, for a checkpoint: importance and uncertainty averages,
     * which components were ever active, the masks and ranks, the schedule's progress and the gate statistics
     * since the last allocation record (so the next record of a resumed run equals the uninterrupted one).
     * Only between steps: the masked-value snapshot is not part of the state.
     */
    @Override
    public void saveState(AllocatorState s) {
        if (snapshotHeld) {
            throw new IllegalStateException("saveState between beforeOptimizerStep and afterOptimizerStep");
        }
        s.putDoubles("exp_ipt", flatten(expIpt));
        s.putDoubles("exp_unc", flatten(expUnc));
        boolean[] ever = new boolean[n * r];
        boolean[] on = new boolean[n * r];
        long[] rk = new long[n];
        for (int m = 0; m < n; m++) {
            for (int j = 0; j < r; j++) {
                ever[m * r + j] = everActive[m][j];
                on[m * r + j] = active(m, j);
            }
            rk[m] = ranks[m];
        }
        s.putBooleans("ever_active", ever);
        s.putBooleans("active", on);
        s.putLongs("ranks", rk);
        s.putBoolean("finalized", finalized);
        s.putLong("observations", observations);
        s.putLong("reallocations", reallocations);
        s.putLongs("gate_n", gateN);
        s.putDoubles("gate_sum", gateSum);
        s.putDoubles("gate_sq", gateSq);
        s.putDoubles("gate_min", gateMin);
        s.putDoubles("gate_max", gateMax);
    }

    /** Puts back a state written by {@link #saveState} for the same adapters and configuration. */
    @Override
    public void restoreState(AllocatorState s) {
        double[] ipt = s.doubles("exp_ipt", n * r);
        double[] unc = s.doubles("exp_unc", n * r);
        boolean[] ever = s.booleans("ever_active", n * r);
        boolean[] on = s.booleans("active", n * r);
        long[] rk = s.longs("ranks", n);
        for (int m = 0; m < n; m++) {
            float[] mask = adapters.get(m).componentMask();
            int count = 0;
            for (int j = 0; j < r; j++) {
                count += on[m * r + j] ? 1 : 0;
            }
            if (count != rk[m] || (mask == null && count != r)) {
                throw new UserInputException("checkpoint: allocator state of " + adapters.get(m).name()
                        + " is inconsistent (rank " + rk[m] + ", " + count + " active components)");
            }
            for (int j = 0; j < r; j++) {
                expIpt[m][j] = ipt[m * r + j];
                expUnc[m][j] = unc[m * r + j];
                everActive[m][j] = ever[m * r + j];
                if (mask != null) {
                    mask[j] = on[m * r + j] ? 1f : 0f;
                }
            }
            ranks[m] = (int) rk[m];
        }
        finalized = s.getBoolean("finalized");
        observations = s.getLong("observations");
        reallocations = s.getLong("reallocations");
        System.arraycopy(s.longs("gate_n", n), 0, gateN, 0, n);
        System.arraycopy(s.doubles("gate_sum", n), 0, gateSum, 0, n);
        System.arraycopy(s.doubles("gate_sq", n), 0, gateSq, 0, n);
        System.arraycopy(s.doubles("gate_min", n), 0, gateMin, 0, n);
        System.arraycopy(s.doubles("gate_max", n), 0, gateMax, 0, n);
        snapshotHeld = false;
    }

    private double[] flatten(double[][] x) {
        double[] f = new double[n * r];
        for (int m = 0; m < n; m++) {
            System.arraycopy(x[m], 0, f, m * r, r);
        }
        return f;
    }

    /** JSON has no NaN or infinity: such values are written as null. */
    private static void putNumber(ObjectNode o, String key, double v) {
        if (Double.isFinite(v)) {
            o.put(key, v);
        } else {
            o.putNull(key);
        }
    }
}
