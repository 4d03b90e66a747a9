package dev.dynalora.adapters;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.ConfigException;
import dev.dynalora.Setting;
import dev.dynalora.UserInputException;
import dev.dynalora.UserMessage;

import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * AdaLoRA's rank allocation and orthogonal regulariser, as PEFT's RankAllocator and AdaLoraModel
 * (peft/tuners/adalora/{layer,model}.py) define them, driven by our trainer itself: in PEFT nothing is pruned
 * unless the user calls update_and_allocate by hand every step; here the trainer always makes the two calls.
 *
 * <p>Per training step, in this order:
 * <ol>
 *   <li>{@link #addOrthogonalRegularization()} after backward, before gradient clipping: adds the gradient of
 *       orth_reg_weight * R to the A and B gradients and returns that term, which belongs in the reported loss
 *       (PEFT adds it to the loss before backward, so clipping and the importance scores see it too);</li>
 *   <li>the optimizer step;</li>
 *   <li>{@link #updateAndAllocate(long)} with the step index, after the optimizer step and before the next
 *       zeroing of gradients (PEFT's documented order): importance update, budget, masking.</li>
 * </ol>
 *
 * <p>One deliberate difference: PEFT masks every triplet whose score is {@code <=} the k-th smallest, which
 * masks all of a tie and can leave fewer than {@code budget} triplets (and fails with k = 0); here exactly
 * {@code init_bgt - budget} triplets are masked, ties going to the higher (module, index) position.
 */
public final class AdaLoraAllocator implements RankAllocator {

    /**
     * AdaLoraConfig's schedule fields (PEFT defaults: target_r 8, init_r 12, tinit 0, tfinal 0, deltaT 1,
     * beta1 = beta2 = 0.85, orth_reg_weight 0.5; total_step has no default and must be given).
     */
    public record Config(int initR, int targetR, long tinit, long tfinal, long deltaT, double beta1, double beta2,
                         double orthRegWeight, long totalStep) {
        public Config {
            if (initR < 1) {
                throw new ConfigException(Setting.INIT_R, "(AdaLoRA) must be at least 1, got " + initR);
            }
            if (targetR < 0 || targetR > initR) {
                throw new ConfigException(Setting.TARGET_R, "(AdaLoRA) must be in [0, ", Setting.INIT_R.is(initR),
                        "], got " + targetR);
            }
            if (!(beta1 > 0 && beta1 < 1) || !(beta2 > 0 && beta2 < 1)) {
                throw new UserInputException("AdaLoRA: beta1 and beta2 must be in (0, 1), got " + beta1 + ", " + beta2);
            }
            if (tinit < 0) {
                throw new ConfigException(Setting.T_INIT, "(AdaLoRA) must be >= 0, got " + tinit);
            }
            if (tfinal < 0) {
                throw new ConfigException(Setting.T_FINAL, "(AdaLoRA) must be >= 0, got " + tfinal);
            }
            if (deltaT < 1) {
                throw new ConfigException(Setting.DELTA_T, "(AdaLoRA) must be at least 1, got " + deltaT);
            }
            if (totalStep - tfinal - tinit <= 0) {
                // PEFT would divide by zero (or schedule backwards) in budget_schedule.
                throw new UserInputException(UserMessage.of("AdaLoRA: ", Setting.T_INIT.is(tinit), " and ",
                        Setting.T_FINAL.is(tfinal), " leave no step of the run's " + totalStep + " to reallocate in"));
            }
            if (!(orthRegWeight > 0)) {
                // PEFT raises "orth_reg_weight should be greater than 0".
                throw new ConfigException(Setting.ORTH_REG_WEIGHT, "(AdaLoRA) must be greater than 0, got " + orthRegWeight);
            }
        }

        public static Config defaults(long totalStep) {
            return new Config(12, 8, 0, 0, 1, 0.85, 0.85, 0.5, totalStep);
        }
    }

    /** budget_schedule's result: the budget and whether this step masks (mask_ind). */
    public record Budget(int budget, boolean maskInd) {
    }

    private final Config cfg;
    private final List<AdaLoraAdapter> adapters;
    private final int initBgt;
    private final int targetBgt;
    // Sensitivity EMA and uncertainty EMA of every element of A, E and B, per module (PEFT's exp_avg_*).
    private final float[][] ipA;
    private final float[][] unA;
    private final float[][] ipE;
    private final float[][] unE;
    private final float[][] ipB;
    private final float[][] unB;
    private boolean[][] pattern;   // active triplets after the last masking, null before the first
    private int lastBudget;

    public AdaLoraAllocator(Config cfg, List<AdaLoraAdapter> adapters) {
        if (adapters.isEmpty()) {
            throw new IllegalArgumentException("AdaLoRA needs at least one adapter");
        }
        this.cfg = cfg;
        this.adapters = List.copyOf(adapters);
        int n = this.adapters.size();
        int init = 0;
        Set<String> names = new HashSet<>();
        for (AdaLoraAdapter a : this.adapters) {
            if (!names.add(a.name())) {
                throw new IllegalArgumentException("two adapters named " + a.name());
            }
            init += a.rank();
        }
        // PEFT: init_bgt sums the actual ranks, target_bgt = target_r * number of adapted modules.
        this.initBgt = init;
        this.targetBgt = cfg.targetR() * n;
        ipA = new float[n][];
        unA = new float[n][];
        ipE = new float[n][];
        unE = new float[n][];
        ipB = new float[n][];
        unB = new float[n][];
        resetIpt();
        lastBudget = initBgt;
    }

    public Config config() {
        return cfg;
    }

    public List<AdaLoraAdapter> adapters() {
        return adapters;
    }

    public int initBudget() {
        return initBgt;
    }

    public int targetBudget() {
        return targetBgt;
    }

    /** PEFT's reset_ipt: forget all importance estimates (done once the final mask is fixed). */
    public void resetIpt() {
        for (int m = 0; m < adapters.size(); m++) {
            AdaLoraAdapter a = adapters.get(m);
            ipA[m] = new float[a.loraA().data().length];
            unA[m] = new float[ipA[m].length];
            ipE[m] = new float[a.rank()];
            unE[m] = new float[a.rank()];
            ipB[m] = new float[a.loraB().data().length];
            unB[m] = new float[ipB[m].length];
        }
    }

    /**
     * PEFT's budget_schedule: init_bgt (no masking) up to tinit; target_bgt (mask) after total_step - tfinal;
     * in between int((init - target) * (1 - (step - tinit) / (total - tfinal - tinit))^3 + target), masking
     * when step % deltaT == 0.
     */
    public Budget budgetSchedule(long step) {
        return budgetSchedule(cfg, initBgt, targetBgt, step);
    }

    public static Budget budgetSchedule(Config c, int initBgt, int targetBgt, long step) {
        if (step <= c.tinit()) {
            return new Budget(initBgt, false);
        }
        if (step > c.totalStep() - c.tfinal()) {
            return new Budget(targetBgt, true);
        }
        double mulCoeff = 1 - (double) (step - c.tinit()) / (c.totalStep() - c.tfinal() - c.tinit());
        int budget = (int) ((initBgt - targetBgt) * Math.pow(mulCoeff, 3) + targetBgt);
        return new Budget(budget, step % c.deltaT() == 0);
    }

    /**
     * Adds the gradient of orth_reg_weight * R to the A and B gradients and returns that term, where (as
     * AdaLoraModel.forward) R = (1 / #matrices) * sum over every A and B of ||A A^T - I||_F resp.
     * ||B^T B - I||_F: the Frobenius norm itself, not its square. d||G||_F / dA = 2 G A / ||G||_F with
     * G = A A^T - I (G symmetric), and 2 B H / ||H||_F for B with H = B^T B - I; zero where the norm is zero.
     */
    public double addOrthogonalRegularization() {
        int numParam = 2 * adapters.size();
        double coef = cfg.orthRegWeight() / numParam;
        double total = 0;
        for (AdaLoraAdapter ad : adapters) {
            int r = ad.rank();
            total += orth(ad.loraA().data(), ad.loraA().grad(), r, ad.in(), true, coef);
            total += orth(ad.loraB().data(), ad.loraB().grad(), r, ad.out(), false, coef);
        }
        return cfg.orthRegWeight() * total / numParam;
    }

    /**
     * ||G - I||_F for G = P P^T (rowsOfR: P is [r, len]) or G = P^T P (P is [len, r]), adding
     * coef * 2 (G - I) P / ||G - I|| (resp. coef * 2 P (G - I) / ||.||) into grad. Accumulates in double.
     */
    static double orth(float[] p, float[] grad, int r, int len, boolean rowsOfR, double coef) {
        double[] g = new double[r * r];
        for (int i = 0; i < r; i++) {
            for (int j = i; j < r; j++) {
                double s = 0;
                for (int t = 0; t < len; t++) {
                    s += rowsOfR ? (double) p[i * len + t] * p[j * len + t] : (double) p[t * r + i] * p[t * r + j];
                }
                if (i == j) {
                    s -= 1;
                }
                g[i * r + j] = s;
                g[j * r + i] = s;
            }
        }
        double ss = 0;
        for (double x : g) {
            ss += x * x;
        }
        double norm = Math.sqrt(ss);
        if (grad == null || norm == 0) {
            return norm;
        }
        double c = 2 * coef / norm;
        if (rowsOfR) {
            // d/dA[i, t] = c * sum_j G[i, j] A[j, t]
            for (int i = 0; i < r; i++) {
                for (int t = 0; t < len; t++) {
                    double s = 0;
                    for (int j = 0; j < r; j++) {
                        s += g[i * r + j] * p[j * len + t];
                    }
                    grad[i * len + t] += (float) (c * s);
                }
            }
        } else {
            // d/dB[t, i] = c * sum_j B[t, j] H[j, i]
            for (int t = 0; t < len; t++) {
                for (int i = 0; i < r; i++) {
                    double s = 0;
                    for (int j = 0; j < r; j++) {
                        s += p[t * r + j] * g[j * r + i];
                    }
                    grad[t * r + i] += (float) (c * s);
                }
            }
        }
        return norm;
    }

    /**
     * PEFT's AdaLoraModel.update_and_allocate(global_step): before total_step - tfinal, update the importance
     * and mask to the scheduled budget when mask_ind says so; at total_step - tfinal, mask to the target budget
     * (forced), fix that rank pattern and reset the importance; after it, re-apply the fixed pattern every step
     * (the optimizer keeps moving pruned E entries, so they are zeroed again). Returns the budget in force.
     */
    public int updateAndAllocate(long step) {
        long end = cfg.totalStep() - cfg.tfinal();
        if (step < end) {
            updateIpt();
            Budget b = budgetSchedule(step);
            if (b.maskInd()) {
                maskToBudget(b.budget());
            }
        } else if (step == end || pattern == null) {
            // pattern == null past the end: a run resumed after the final step never saw it; make it now.
            maskToBudget(targetBgt);
            resetIpt();
        } else {
            maskUsingRankPattern();
        }
        return lastBudget;
    }

    /** PEFT's update_ipt: ipt = |p * grad|, exp_avg_ipt and exp_avg_unc EMAs, for every element of A, E, B. */
    void updateIpt() {
        float b1 = (float) cfg.beta1();
        float c1 = (float) (1 - cfg.beta1());
        float b2 = (float) cfg.beta2();
        float c2 = (float) (1 - cfg.beta2());
        for (int m = 0; m < adapters.size(); m++) {
            AdaLoraAdapter ad = adapters.get(m);
            update(ad.loraA().data(), ad.loraA().grad(), ipA[m], unA[m], b1, c1, b2, c2, ad.name());
            update(ad.loraE().data(), ad.loraE().grad(), ipE[m], unE[m], b1, c1, b2, c2, ad.name());
            update(ad.loraB().data(), ad.loraB().grad(), ipB[m], unB[m], b1, c1, b2, c2, ad.name());
        }
    }

    private static void update(float[] p, float[] g, float[] ip, float[] un, float b1, float c1, float b2, float c2,
                               String name) {
        if (g == null) {
            throw new IllegalStateException("AdaLoRA adapter " + name + " is frozen: no gradients to score");
        }
        for (int i = 0; i < p.length; i++) {
            float ipt = Math.abs(p[i] * g[i]);
            float e = b1 * ip[i] + c1 * ipt;
            ip[i] = e;
            un[i] = b2 * un[i] + c2 * Math.abs(ipt - e);
        }
    }

    /**
     * Triplet scores of module m, PEFT's _element_score and _combine_ipt: s(E_i) + mean_k s(A[i, k]) +
     * mean_o s(B[o, i]), with s = exp_avg_ipt * exp_avg_unc.
     */
    public double[] tripletScores(int m) {
        AdaLoraAdapter ad = adapters.get(m);
        int r = ad.rank();
        int in = ad.in();
        int out = ad.out();
        double[] s = new double[r];
        for (int i = 0; i < r; i++) {
            double sa = 0;
            for (int k = 0; k < in; k++) {
                sa += (double) ipA[m][i * in + k] * unA[m][i * in + k];
            }
            s[i] = (double) ipE[m][i] * unE[m][i] + sa / in;
        }
        double[] sb = new double[r];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < r; i++) {
                sb[i] += (double) ipB[m][o * r + i] * unB[m][o * r + i];
            }
        }
        for (int i = 0; i < r; i++) {
            s[i] += sb[i] / out;
        }
        return s;
    }

    /**
     * PEFT's mask_to_budget: zero E for the init_bgt - budget lowest-scoring triplets over all modules, keeping
     * exactly {@code budget}. Returns the resulting rank pattern.
     */
    public Map<String, boolean[]> maskToBudget(int budget) {
        int n = adapters.size();
        int total = initBgt;
        double[] score = new double[total];
        int[] mod = new int[total];
        int[] idx = new int[total];
        int t = 0;
        for (int m = 0; m < n; m++) {
            double[] s = tripletScores(m);
            for (int i = 0; i < s.length; i++) {
                score[t] = s[i];
                mod[t] = m;
                idx[t] = i;
                t++;
            }
        }
        int prune = Math.max(0, Math.min(total, total - budget));
        Integer[] order = new Integer[total];
        for (int i = 0; i < total; i++) {
            order[i] = i;
        }
        // Lowest score first; among equal scores the later position is pruned first.
        Arrays.sort(order, (x, y) -> {
            int c = Double.compare(score[x], score[y]);
            return c != 0 ? c : Integer.compare(y, x);
        });
        boolean[][] keep = new boolean[n][];
        for (int m = 0; m < n; m++) {
            keep[m] = new boolean[adapters.get(m).rank()];
            Arrays.fill(keep[m], true);
        }
        for (int i = 0; i < prune; i++) {
            keep[mod[order[i]]][idx[order[i]]] = false;
        }
        pattern = keep;
        lastBudget = total - prune;
        maskUsingRankPattern();
        return rankPattern();
    }

    /** PEFT's mask_using_rank_pattern: E of every pruned triplet set to zero. */
    void maskUsingRankPattern() {
        if (pattern == null) {
            return;
        }
        for (int m = 0; m < adapters.size(); m++) {
            float[] e = adapters.get(m).loraE().data();
            for (int i = 0; i < e.length; i++) {
                if (!pattern[m][i]) {
                    e[i] = 0f;
                }
            }
        }
    }

    /** Module name to active-triplet flags (PEFT's rank_pattern); all true before the first masking. */
    public Map<String, boolean[]> rankPattern() {
        Map<String, boolean[]> p = new LinkedHashMap<>();
        for (int m = 0; m < adapters.size(); m++) {
            boolean[] k;
            if (pattern == null) {
                k = new boolean[adapters.get(m).rank()];
                Arrays.fill(k, true);
            } else {
                k = pattern[m].clone();
            }
            p.put(adapters.get(m).name(), k);
        }
        return Collections.unmodifiableMap(p);
    }

    /** Active triplets per module, in adapter order. */
    public int[] ranks() {
        int[] r = new int[adapters.size()];
        int m = 0;
        for (boolean[] k : rankPattern().values()) {
            for (boolean b : k) {
                r[m] += b ? 1 : 0;
            }
            m++;
        }
        return r;
    }

    /** The budget of the last masking (init_bgt before any). */
    public int currentBudget() {
        return lastBudget;
    }

    /**
     * The importance averages of every A, E and B element (as arrays), the rank pattern once one is fixed and
     * the budget in force, for a checkpoint. The masked E values themselves are parameters, saved with them.
     */
    @Override
    public void saveState(AllocatorState s) {
        for (int m = 0; m < adapters.size(); m++) {
            s.putFloats("ip_a." + m, ipA[m]);
            s.putFloats("un_a." + m, unA[m]);
            s.putFloats("ip_e." + m, ipE[m]);
            s.putFloats("un_e." + m, unE[m]);
            s.putFloats("ip_b." + m, ipB[m]);
            s.putFloats("un_b." + m, unB[m]);
            if (pattern != null) {
                s.putBooleans("pattern." + m, pattern[m]);
            }
        }
        s.putBoolean("has_pattern", pattern != null);
        s.putLong("last_budget", lastBudget);
    }

    /** Puts back a state written by {@link #saveState} for the same adapters and configuration. */
    @Override
    public void restoreState(AllocatorState s) {
        int n = adapters.size();
        boolean hasPattern = s.getBoolean("has_pattern");
        boolean[][] p = hasPattern ? new boolean[n][] : null;
        for (int m = 0; m < n; m++) {
            copy(s.floats("ip_a." + m, ipA[m].length), ipA[m]);
            copy(s.floats("un_a." + m, unA[m].length), unA[m]);
            copy(s.floats("ip_e." + m, ipE[m].length), ipE[m]);
            copy(s.floats("un_e." + m, unE[m].length), unE[m]);
            copy(s.floats("ip_b." + m, ipB[m].length), ipB[m]);
            copy(s.floats("un_b." + m, unB[m].length), unB[m]);
            if (hasPattern) {
                p[m] = s.booleans("pattern." + m, adapters.get(m).rank());
            }
        }
        pattern = p;
        long budget = s.getLong("last_budget");
        if (budget < 0 || budget > initBgt) {
            throw new UserInputException("checkpoint: AdaLoRA budget " + budget + " is outside [0, " + initBgt + "]");
        }
        lastBudget = (int) budget;
    }

    private static void copy(float[] from, float[] to) {
        System.arraycopy(from, 0, to, 0, to.length);
    }

    /** One allocation.jsonl line: {"step", "budget", "modules": {name: {"rank"}}}. */
    @Override
    public ObjectNode allocationRecord(long step) {
        ObjectNode rec = JsonNodeFactory.instance.objectNode();
        rec.put("step", step);
        rec.put("budget", lastBudget);
        ObjectNode mods = rec.putObject("modules");
        int[] r = ranks();
        for (int m = 0; m < adapters.size(); m++) {
            mods.putObject(adapters.get(m).name()).put("rank", r[m]);
        }
        return rec;
    }
}
