package dev.dynalora.cli.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.data.GlueTask;

import java.util.ArrayList;
import java.util.Arrays;
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

    public GridResults(GridSettings settings, List<Entry> entries) {
        this.settings = settings;
        this.entries = List.copyOf(entries);
    }

    /** Reads every run folder of the grid; the failures of this invocation give the reasons of incomplete runs. */
    /**
     * The state of every run of the grid. With {@code pending} (bench glue --table-only) a run without a summary
     * is reported as not run yet rather than failed.
     */
    public static GridResults collect(GridSettings s, GridRunner runner, List<GridRunner.Failure> failures, boolean pending) {
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
        return new GridResults(s, entries);
    }

    public GridSettings settings() {
        return settings;
    }

    public List<Entry> entries() {
        return entries;
    }

    List<Entry> complete(String method, String task) {
        return entries.stream().filter(e -> e.complete() && e.run().method().equals(method) && e.run().task().equals(task)).toList();
    }

    /** A metric of a task for a method over its complete seeds. */
    public Stat stat(String method, String task, Pick pick, String metric) {
        return Stat.of(complete(method, task).stream().mapToDouble(e -> e.summary().path(pick.key).path(metric).asDouble(Double.NaN)).toArray());
    }

    /**
     * GLUE-style average of a method: the mean over tasks of each task's mean score (NaN if a task has no
     * complete run). Its standard deviation is that of the per-seed averages, defined only when every task has
     * every seed; n is the number of seeds complete in every task.
     */
    public Stat average(String method, Pick pick) {
        double sum = 0;
        for (String task : settings.tasks()) {
            Stat t = stat(method, task, pick, GlueTask.SCORE);
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
                int sd = seed;
                Entry e = complete(method, task).stream().filter(x -> x.run().seed() == sd).findFirst().orElse(null);
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

    /** Smallest and largest trainable_params (or active_trainable_params) of a method's complete runs. */
    public long[] params(String method, String field) {
        long[] v = entries.stream().filter(e -> e.complete() && e.run().method().equals(method))
                .mapToLong(e -> e.summary().path(field).asLong()).toArray();
        return v.length == 0 ? new long[0] : new long[]{Arrays.stream(v).min().getAsLong(), Arrays.stream(v).max().getAsLong()};
    }

    /** Total training time of a method's complete runs, in seconds. */
    public double trainSeconds(String method) {
        return entries.stream().filter(e -> e.complete() && e.run().method().equals(method))
                .mapToDouble(e -> e.summary().path("train_time_s").asDouble()).sum();
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
        }
        return o;
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
