package dev.dynalora.cli.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.data.GlueTask;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * The outcome of every run of a grid, read back from the run folders, and the statistics over seeds the
 * results table shows: per method and task, mean and sample standard deviation of each dev metric (at the
 * best epoch, selected by the task's primary metric as the trainer does, and after the last epoch), and the
 * GLUE-style average over tasks of each task's score (the mean of its metrics).
 */
public final class GridResults {
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** One run: status "complete", "diverged" or "failed"; summary is the run's summary record when complete. */
    public record Entry(GridRun run, String status, JsonNode summary, String error) {
        boolean complete() {
            return summary != null;
        }
    }

    /** Mean and sample standard deviation (NaN below two values) of n values; n = 0 means no data. */
    public record Stat(double mean, double std, int n) {
        static Stat of(double[] v) {
            int n = v.length;
            if (n == 0) {
                return new Stat(Double.NaN, Double.NaN, 0);
            }
            double mean = Arrays.stream(v).sum() / n;
            double ss = Arrays.stream(v).map(x -> (x - mean) * (x - mean)).sum();
            return new Stat(mean, n > 1 ? Math.sqrt(ss / (n - 1)) : Double.NaN, n);
        }
    }

    /** Which dev metrics of a run: at its best epoch or after its last. */
    public enum Pick {
        BEST("best"), FINAL("final");

        final String key;

        Pick(String key) {
            this.key = key;
        }
    }

    private final GridSettings settings;
    private final List<Entry> entries;
    private final String baseline;
    private final Map<String, Double> chosenLr = new LinkedHashMap<>();

    public GridResults(GridSettings settings, List<Entry> entries) {
        this(settings, entries, null);
    }

    /** @param baseline the method the others are compared with (paired by task and seed), or null for none */
    public GridResults(GridSettings settings, List<Entry> entries, String baseline) {
        this.settings = settings;
        this.entries = List.copyOf(entries);
        this.baseline = baseline;
        for (String method : settings.methods()) {
            chosenLr.put(method, selectLr(method));
        }
    }

    /**
     * The state of every run of the grid; the failures of this invocation give the reasons of incomplete runs.
     * With {@code pending} (bench glue --table-only) a run without a summary is reported as not run yet rather
     * than failed.
     */
    public static GridResults collect(GridSettings s, GridRunner runner, List<GridRunner.Failure> failures, boolean pending,
                                      String baseline) {
        Map<GridRun, GridRunner.Failure> failed = failures.stream()
                .collect(Collectors.toMap(GridRunner.Failure::run, Function.identity()));
        List<Entry> entries = new ArrayList<>();
        for (GridRun r : s.runs()) {
            RunState st = RunState.read(runner.runDir(r));
            if (st.complete()) {
                entries.add(new Entry(r, "complete", st.summary(), null));
            } else {
                GridRunner.Failure f = failed.get(r);
                String status = st.diverged() != null ? "diverged" : pending ? PENDING : "failed";
                entries.add(new Entry(r, status, null, f != null ? f.message() : "no summary in " + r.dirName()));
            }
        }
        return new GridResults(s, entries, baseline);
    }

    public GridSettings settings() {
        return settings;
    }

    public List<Entry> entries() {
        return entries;
    }

    /** The method the others are compared with, or null. */
    public String baseline() {
        return baseline;
    }

    /**
     * The learning rate a method is reported at. The rule, the same for every method: among its rates whose
     * GLUE-style average (best epoch, {@link #average(String, double, Pick)}) is defined, the one with the highest
     * average; an exact tie goes to the rate listed first, and so does a method with no rate averaged yet. With
     * one rate, that rate.
     */
    public double chosenLr(String method) {
        return chosenLr.get(method);
    }

    private double selectLr(String method) {
        List<Double> rates = settings.lrsOf(method);
        double best = rates.get(0);
        double bestScore = Double.NEGATIVE_INFINITY;
        for (double lr : rates) {
            double avg = average(method, lr, Pick.BEST).mean();
            if (!Double.isNaN(avg) && avg > bestScore) {
                best = lr;
                bestScore = avg;
            }
        }
        return best;
    }

    List<Entry> complete(String method, double lr, String task) {
        return entries.stream().filter(e -> e.complete() && e.run().method().equals(method) && e.run().lr() == lr
                && e.run().task().equals(task)).toList();
    }

    /** A method's complete runs at its chosen learning rate, every task. */
    List<Entry> completeAtChosen(String method) {
        double lr = chosenLr(method);
        return entries.stream().filter(e -> e.complete() && e.run().method().equals(method) && e.run().lr() == lr).toList();
    }

    /** A metric of a task for a method, at its chosen learning rate, over its complete seeds. */
    public Stat stat(String method, String task, Pick pick, String metric) {
        return stat(method, chosenLr(method), task, pick, metric);
    }

    /** A metric of a task for a method at a learning rate, over its complete seeds. */
    public Stat stat(String method, double lr, String task, Pick pick, String metric) {
        return Stat.of(complete(method, lr, task).stream().mapToDouble(e -> e.summary().path(pick.key).path(metric).asDouble(Double.NaN)).toArray());
    }

    /** The GLUE-style average of a method at its chosen learning rate. */
    public Stat average(String method, Pick pick) {
        return average(method, chosenLr(method), pick);
    }

    /**
     * GLUE-style average of a method at a learning rate: the mean over tasks of each task's mean score (NaN if a
     * task has no complete run). Its standard deviation is that of the per-seed averages, defined only when every
     * task has every seed; n is the number of seeds complete in every task.
     */
    public Stat average(String method, double lr, Pick pick) {
        double sum = 0;
        for (String task : settings.tasks()) {
            Stat t = stat(method, lr, task, pick, GlueTask.SCORE);
            if (t.n() == 0) {
                return new Stat(Double.NaN, Double.NaN, 0);
            }
            sum += t.mean();
        }
        double mean = sum / settings.tasks().size();
        List<Double> perSeed = new ArrayList<>();
        for (int seed = 1; seed <= settings.seeds(); seed++) {
            double s = 0;
            boolean all = true;
            for (String task : settings.tasks()) {
                Entry e = entry(method, lr, task, seed);
                if (e == null) {
                    all = false;
                    break;
                }
                s += e.summary().path(pick.key).path(GlueTask.SCORE).asDouble(Double.NaN);
            }
            if (all) {
                perSeed.add(s / settings.tasks().size());
            }
        }
        double std = perSeed.size() == settings.seeds() ? Stat.of(perSeed.stream().mapToDouble(Double::doubleValue).toArray()).std() : Double.NaN;
        return new Stat(mean, std, perSeed.size());
    }

    /** The complete run of a method at a rate for a task and seed, or null. */
    Entry entry(String method, double lr, String task, int seed) {
        return complete(method, lr, task).stream().filter(x -> x.run().seed() == seed).findFirst().orElse(null);
    }

    /**
     * A method against the baseline, each at its chosen learning rate, paired by (task, seed) over the pairs
     * where both runs are complete: the differences of the task's GLUE score (best epoch), x100.
     *
     * @param perTask per task (in --tasks order), the differences by seed (seeds without a pair are absent)
     * @param stats   over all the pairs
     */
    public record Comparison(String method, String baseline, Map<String, Map<Integer, Double>> perTask,
                             PairedStats.Summary stats) {
    }

    /** The paired comparison of a method with the baseline (null when there is no baseline or it is the baseline). */
    public Comparison compare(String method) {
        if (baseline == null || method.equals(baseline)) {
            return null;
        }
        Map<String, Map<Integer, Double>> perTask = new LinkedHashMap<>();
        List<Double> all = new ArrayList<>();
        for (String task : settings.tasks()) {
            Map<Integer, Double> d = new LinkedHashMap<>();
            for (int seed = 1; seed <= settings.seeds(); seed++) {
                Entry a = entry(method, chosenLr(method), task, seed);
                Entry b = entry(baseline, chosenLr(baseline), task, seed);
                if (a != null && b != null) {
                    double diff = 100 * (a.summary().path("best").path(GlueTask.SCORE).asDouble(Double.NaN)
                            - b.summary().path("best").path(GlueTask.SCORE).asDouble(Double.NaN));
                    d.put(seed, diff);
                    all.add(diff);
                }
            }
            perTask.put(task, d);
        }
        return new Comparison(method, baseline, perTask, PairedStats.of(all.stream().mapToDouble(Double::doubleValue).toArray()));
    }

    /** How far apart (relative) two adapter methods' active parameter counts may be and still count as one budget. */
    public static final double BUDGET_TOLERANCE = 0.01;

    /**
     * The adapter methods (lora, adalora, dynamic) whose active parameters at the end of their runs differ from
     * the baseline's by more than {@link #BUDGET_TOLERANCE}, compared on the largest count of each (the same
     * task's head); empty without a baseline.
     */
    public List<String> offBudget() {
        List<String> out = new ArrayList<>();
        if (baseline == null) {
            return out;
        }
        long[] base = params(baseline, "active_trainable_params");
        for (String method : settings.methods()) {
            long[] a = params(method, "active_trainable_params");
            if (method.equals(baseline) || !dev.dynalora.training.Method.parse(method).usesAdapters() || a.length == 0
                    || base.length == 0 || base[1] == 0) {
                continue;
            }
            if (Math.abs(a[1] - base[1]) > BUDGET_TOLERANCE * base[1]) {
                out.add(method);
            }
        }
        return out;
    }

    /** Seeds that settle whether two methods differ when their averages are within a point (issue #15). */
    public static final int SEEDS_WHEN_CLOSE = 5;

    /**
     * The pairs of methods whose averages (best epoch, each at its chosen rate) are within one point (x100) of
     * each other, in --methods order; empty when the grid already has {@link #SEEDS_WHEN_CLOSE} seeds or more.
     */
    public List<List<String>> closePairs() {
        List<List<String>> out = new ArrayList<>();
        if (settings.seeds() >= SEEDS_WHEN_CLOSE) {
            return out;
        }
        List<String> m = settings.methods();
        for (int i = 0; i < m.size(); i++) {
            for (int j = i + 1; j < m.size(); j++) {
                double a = average(m.get(i), Pick.BEST).mean();
                double b = average(m.get(j), Pick.BEST).mean();
                if (!Double.isNaN(a) && !Double.isNaN(b) && Math.abs(a - b) * 100 < 1.0) {
                    out.add(List.of(m.get(i), m.get(j)));
                }
            }
        }
        return out;
    }

    /**
     * Smallest and largest trainable_params (or active_trainable_params: what is in use at the end of the run) of
     * a method's complete runs at its chosen learning rate.
     */
    public long[] params(String method, String field) {
        long[] v = completeAtChosen(method).stream().mapToLong(e -> e.summary().path(field).asLong()).toArray();
        return v.length == 0 ? new long[0] : new long[]{Arrays.stream(v).min().getAsLong(), Arrays.stream(v).max().getAsLong()};
    }

    /** Total training time (wall clock of the training steps) of a method's complete runs at its chosen rate, in seconds. */
    public double trainSeconds(String method) {
        return completeAtChosen(method).stream().mapToDouble(e -> e.summary().path("train_time_s").asDouble()).sum();
    }

    /** Training time per run of a method at its chosen rate, over its complete runs (every task and seed). */
    public Stat secondsPerRun(String method) {
        return Stat.of(completeAtChosen(method).stream().mapToDouble(e -> e.summary().path("train_time_s").asDouble()).toArray());
    }

    /** Mean training time per optimizer step of a method at its chosen rate, in milliseconds (NaN without runs). */
    public double msPerStep(String method) {
        double seconds = 0;
        long steps = 0;
        for (Entry e : completeAtChosen(method)) {
            seconds += e.summary().path("train_time_s").asDouble();
            steps += e.summary().path("steps").asLong();
        }
        return steps == 0 ? Double.NaN : 1000 * seconds / steps;
    }

    /** The status of a run that --table-only found without a result. */
    public static final String PENDING = "pending";

    public long failedCount() {
        return entries.stream().filter(e -> !e.complete()).count();
    }

    /** results.json: the settings, every run's figures, and the table's statistics. */
    public ObjectNode toJson() {
        ObjectNode o = JSON.createObjectNode();
        o.set("config", settings.toJson());
        ArrayNode runs = o.putArray("runs");
        for (Entry e : entries) {
            ObjectNode r = runs.addObject();
            r.put("task", e.run().task());
            r.put("method", e.run().method());
            r.put("seed", e.run().seed());
            r.put("lr", e.run().lr());
            r.put("run_dir", e.run().dirName());
            r.put("status", e.status());
            if (e.complete()) {
                for (String f : List.of("best", "final", "trainable_params", "active_trainable_params", "train_time_s",
                        "tokens_per_s", "steps")) {
                    r.set(f, e.summary().get(f));
                }
            } else {
                r.put("error", e.error());
            }
        }
        ObjectNode table = o.putObject("table");
        for (Pick pick : Pick.values()) {
            ObjectNode p = table.putObject(pick.key);
            for (String method : settings.methods()) {
                ObjectNode m = p.putObject(method);
                for (String task : settings.tasks()) {
                    ObjectNode t = m.putObject(task);
                    List<String> metrics = new ArrayList<>(GlueTask.parse(task).metricNames());
                    if (metrics.size() > 1) {
                        metrics.add(GlueTask.SCORE);
                    }
                    for (String metric : metrics) {
                        t.set(metric, statJson(stat(method, task, pick, metric)));
                    }
                }
                m.set("average", statJson(average(method, pick)));
            }
        }
        ObjectNode methods = o.putObject("methods");
        for (String method : settings.methods()) {
            ObjectNode m = methods.putObject(method);
            long[] t = params(method, "trainable_params");
            long[] a = params(method, "active_trainable_params");
            if (t.length > 0) {
                m.putArray("trainable_params_range").add(t[0]).add(t[1]);
                m.putArray("active_trainable_params_range").add(a[0]).add(a[1]);
            }
            m.put("train_time_s", Math.round(trainSeconds(method) * 10) / 10.0);
            m.set("train_time_s_per_run", statJson(secondsPerRun(method)));
            double ms = msPerStep(method);
            if (Double.isNaN(ms)) {
                m.putNull("ms_per_step");
            } else {
                m.put("ms_per_step", Math.round(ms * 10) / 10.0);
            }
            m.put("lr", chosenLr(method));
            ObjectNode rates = m.putObject("lr_averages");
            for (double lr : settings.lrsOf(method)) {
                ObjectNode x = rates.putObject(GridRun.lrLabel(lr));
                x.put("lr", lr);
                for (Pick pick : Pick.values()) {
                    x.set(pick.key, statJson(average(method, lr, pick)));
                }
            }
        }
        o.put("lr_selection", "per method, the rate with the highest GLUE-style average over tasks (best epoch, mean over"
                + " seeds); ties to the rate listed first");
        if (baseline != null) {
            ObjectNode paired = o.putObject("paired");
            paired.put("baseline", baseline);
            paired.put("difference", "method minus baseline, task GLUE score at the best epoch, x100, per (task, seed)");
            paired.put("interval", "95% Student t interval of the mean difference over all pairs");
            paired.put("test", "exact two-sided sign test over all pairs, ties left out");
            ObjectNode ms = paired.putObject("methods");
            for (String method : settings.methods()) {
                Comparison c = compare(method);
                if (c == null) {
                    continue;
                }
                ObjectNode x = ms.putObject(method);
                PairedStats.Summary st = c.stats();
                x.put("pairs", st.n());
                x.put("wins", st.wins());
                x.put("ties", st.ties());
                x.put("losses", st.losses());
                putNumber(x, "mean_difference", st.mean());
                ArrayNode ci = x.putArray("ci95");
                addNumber(ci, st.ciLow());
                addNumber(ci, st.ciHigh());
                x.put("sign_test_p", st.signP());
                ObjectNode tasks = x.putObject("per_task");
                c.perTask().forEach((task, bySeed) -> {
                    ObjectNode t = tasks.putObject(task);
                    bySeed.forEach((seed, d) -> t.put("s" + seed, d));
                });
            }
        }
        ArrayNode off = o.putArray("not_same_budget");
        offBudget().forEach(off::add);
        ArrayNode close = o.putArray("within_one_point");
        for (List<String> pair : closePairs()) {
            close.addArray().add(pair.get(0)).add(pair.get(1));
        }
        return o;
    }

    private static void putNumber(ObjectNode o, String field, double v) {
        if (Double.isNaN(v)) {
            o.putNull(field);
        } else {
            o.put(field, v);
        }
    }

    private static void addNumber(ArrayNode a, double v) {
        if (Double.isNaN(v)) {
            a.addNull();
        } else {
            a.add(v);
        }
    }

    private static ObjectNode statJson(Stat s) {
        ObjectNode o = JSON.createObjectNode();
        if (Double.isNaN(s.mean())) {
            o.putNull("mean");
        } else {
            o.put("mean", s.mean());
        }
        if (Double.isNaN(s.std())) {
            o.putNull("std");
        } else {
            o.put("std", s.std());
        }
        o.put("n", s.n());
        return o;
    }
}
