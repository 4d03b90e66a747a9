package dev.dynalora.cli.bench;

import dev.dynalora.data.GlueTask;

import java.util.List;
import java.util.Locale;

/**
 * results.md: one table per pick (best epoch, last epoch) with a row per method and a column per task, each
 * cell the mean ± sample std over seeds, x100 as GLUE reports them; then the GLUE-style average, trainable
 * parameters and total training time per method, and the runs that failed.
 */
public final class GridTable {
    private GridTable() {
    }

    public static String markdown(GridResults r) {
        GridSettings s = r.settings();
        StringBuilder b = new StringBuilder();
        long complete = r.entries().size() - r.failedCount();
        b.append("# GLUE dev results\n\n");
        b.append(String.format(Locale.ROOT, "%s, %d of %d runs complete; mean ± std over %d seed(s), x100; average: "
                        + "mean over tasks of each task's GLUE score (the mean of its metrics).%n%n",
                fileName(s.model()), complete, r.entries().size(), s.seeds()));
        for (GridResults.Pick pick : GridResults.Pick.values()) {
            b.append(pick == GridResults.Pick.BEST
                    ? "## Best epoch (selected on dev by the task's main metric)\n\n"
                    : "## Last epoch\n\n");
            table(b, r, pick);
            b.append('\n');
        }
        learningRates(b, r);
        paired(b, r);
        closePairs(b, r);
        budget(b, r);
        List<GridResults.Entry> failed = r.entries().stream()
                .filter(e -> !e.complete() && !e.status().equals(GridResults.PENDING)).toList();
        List<String> pending = r.entries().stream().filter(e -> e.status().equals(GridResults.PENDING))
                .map(e -> e.run().dirName()).toList();
        if (!pending.isEmpty()) {
            b.append("## Runs not done yet (").append(pending.size()).append(")\n\n").append(String.join(", ", pending)).append("\n\n");
        }
        if (!failed.isEmpty()) {
            b.append("## Runs without a result\n\n");
            for (GridResults.Entry e : failed) {
                b.append("- ").append(e.run().dirName()).append(": ").append(e.status()).append(": ").append(e.error()).append('\n');
            }
            b.append('\n');
        }
        b.append(settingsLine(s));
        return b.toString();
    }

    private static void table(StringBuilder b, GridResults r, GridResults.Pick pick) {
        GridSettings s = r.settings();
        StringBuilder head = new StringBuilder("| method |");
        StringBuilder rule = new StringBuilder("| --- |");
        for (String task : s.tasks()) {
            GlueTask t = GlueTask.parse(task);
            head.append(' ').append(t.folder()).append(' ')
                    .append(String.join(" / ", t.metricNames().stream().map(GridTable::metricLabel).toList())).append(" |");
            rule.append(" ---: |");
        }
        head.append(" average |");
        rule.append(" ---: |");
        boolean extras = pick == GridResults.Pick.BEST;
        if (extras) {
            head.append(" trainable params | active params | train time |");
            rule.append(" ---: | ---: | ---: |");
        }
        b.append(head).append('\n').append(rule).append('\n');
        for (String method : s.methods()) {
            b.append("| ").append(rowLabel(r, method)).append(" |");
            for (String task : s.tasks()) {
                List<String> cells = GlueTask.parse(task).metricNames().stream()
                        .map(m -> cell(r.stat(method, task, pick, m), s.seeds(), false)).toList();
                b.append(' ').append(String.join(" / ", cells)).append(" |");
            }
            b.append(' ').append(cell(r.average(method, pick), s.seeds(), true)).append(" |");
            if (extras) {
                b.append(' ').append(range(r.params(method, "trainable_params"))).append(" |");
                b.append(' ').append(range(r.params(method, "active_trainable_params"))).append(" |");
                b.append(' ').append(duration(r.trainSeconds(method))).append(" |");
            }
            b.append('\n');
        }
    }

    /** The method, and its chosen learning rate when the grid has a rate grid. */
    private static String rowLabel(GridResults r, String method) {
        return r.settings().anyLrGrid() ? method + ", lr " + GridRun.lrLabel(r.chosenLr(method)) : method;
    }

    /** Every rate's average, per method, and which one the tables report (only when a method has several). */
    private static void learningRates(StringBuilder b, GridResults r) {
        GridSettings s = r.settings();
        if (!s.anyLrGrid()) {
            return;
        }
        b.append("## Learning rates\n\n");
        b.append("Each method is reported at the rate with the highest average over tasks at the best epoch (mean over "
                + "seeds); the same rule for every method, applied to these dev scores (a tie goes to the rate listed "
                + "first).\n\n");
        b.append("| method | lr | average, best epoch | average, last epoch | seeds complete |\n");
        b.append("| --- | ---: | ---: | ---: | ---: |\n");
        for (String method : s.methods()) {
            for (double lr : s.lrsOf(method)) {
                GridResults.Stat best = r.average(method, lr, GridResults.Pick.BEST);
                GridResults.Stat last = r.average(method, lr, GridResults.Pick.FINAL);
                boolean chosen = lr == r.chosenLr(method);
                String label = GridRun.lrLabel(lr) + (chosen ? " (chosen)" : "");
                b.append("| ").append(method).append(" | ").append(chosen ? "**" + label + "**" : label).append(" | ")
                        .append(cell(best, s.seeds(), true)).append(" | ").append(cell(last, s.seeds(), true)).append(" | ")
                        .append(best.n()).append(" of ").append(s.seeds()).append(" |\n");
            }
        }
        b.append('\n');
    }

    /** Each method against the baseline, paired by (task, seed). */
    private static void paired(StringBuilder b, GridResults r) {
        GridSettings s = r.settings();
        String base = r.baseline();
        List<GridResults.Comparison> cs = s.methods().stream().map(r::compare).filter(java.util.Objects::nonNull).toList();
        if (base == null || cs.isEmpty()) {
            return;
        }
        b.append("## Paired comparison with ").append(base).append("\n\n");
        b.append("Each task's GLUE score at the best epoch, x100, method minus ").append(base)
                .append(", paired by (task, seed) where both runs are complete, each method at its reported rate. "
                        + "Wins / ties / losses over all pairs; the mean difference with its 95% t interval; p: exact "
                        + "two-sided sign test on the pairs that differ.\n\n");
        b.append("| method − ").append(base).append(" | pairs | wins / ties / losses | mean difference (95% CI) | sign test p |\n");
        b.append("| --- | ---: | ---: | ---: | ---: |\n");
        for (GridResults.Comparison c : cs) {
            PairedStats.Summary st = c.stats();
            b.append("| ").append(c.method()).append(" | ").append(st.n()).append(" | ")
                    .append(st.wins()).append(" / ").append(st.ties()).append(" / ").append(st.losses()).append(" | ")
                    .append(meanWithCi(st)).append(" | ").append(pValue(st.signP())).append(" |\n");
        }
        b.append('\n');
        StringBuilder head = new StringBuilder("| method − " + base + ", per seed |");
        StringBuilder rule = new StringBuilder("| --- |");
        for (String task : s.tasks()) {
            head.append(' ').append(GlueTask.parse(task).folder()).append(" |");
            rule.append(" --- |");
        }
        b.append(head).append('\n').append(rule).append('\n');
        for (GridResults.Comparison c : cs) {
            b.append("| ").append(c.method()).append(" |");
            for (String task : s.tasks()) {
                java.util.Map<Integer, Double> d = c.perTask().get(task);
                if (d.isEmpty()) {
                    b.append(" – |");
                    continue;
                }
                double mean = d.values().stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
                List<String> each = d.entrySet().stream().map(e -> signed(e.getValue())).toList();
                b.append(' ').append(signed(mean)).append(" (").append(String.join(", ", each)).append(") |");
            }
            b.append('\n');
        }
        b.append('\n');
    }

    /** A note for every two methods whose averages are within a point, when the grid has fewer than 5 seeds. */
    private static void closePairs(StringBuilder b, GridResults r) {
        List<List<String>> close = r.closePairs();
        if (close.isEmpty()) {
            return;
        }
        b.append("## Within one point\n\n");
        for (List<String> p : close) {
            b.append(String.format(Locale.ROOT, "- %s and %s are within one point on the average (%.1f and %.1f): run %d seeds "
                            + "(the same command with --seeds %d adds the missing seeds to this grid) before calling either ahead.%n", p.get(0), p.get(1),
                    100 * r.average(p.get(0), GridResults.Pick.BEST).mean(), 100 * r.average(p.get(1), GridResults.Pick.BEST).mean(),
                    GridResults.SEEDS_WHEN_CLOSE, GridResults.SEEDS_WHEN_CLOSE));
        }
        b.append('\n');
    }

    /** Trainable and active parameters against the baseline's, and time per run and per step. */
    private static void budget(StringBuilder b, GridResults r) {
        GridSettings s = r.settings();
        String base = r.baseline();
        long[] baseActive = base == null ? new long[0] : r.params(base, "active_trainable_params");
        b.append("## Parameters and time\n\n");
        b.append("Active parameters: the trainable ones in use at the end of a run (masked rank components of AdaLoRA "
                + "and Dynamic LoRA left out); train time: wall clock of the training steps, per run, mean ± std over "
                + "tasks and seeds.\n\n");
        b.append("| method | trainable params | active params |").append(base == null ? "" : " active vs " + base + " |")
                .append(" train time per run | ms per step |\n");
        b.append("| --- | ---: | ---: |").append(base == null ? "" : " ---: |").append(" ---: | ---: |\n");
        for (String method : s.methods()) {
            long[] active = r.params(method, "active_trainable_params");
            b.append("| ").append(rowLabel(r, method)).append(" | ").append(range(r.params(method, "trainable_params")))
                    .append(" | ").append(range(active)).append(" |");
            if (base != null) {
                b.append(' ').append(method.equals(base) ? "(baseline)" : relative(active, baseActive)).append(" |");
            }
            GridResults.Stat t = r.secondsPerRun(method);
            String time = Double.isNaN(t.mean()) ? "–" : duration(t.mean())
                    + (Double.isNaN(t.std()) ? "" : " ± " + duration(t.std()));
            double ms = r.msPerStep(method);
            b.append(' ').append(time).append(" | ").append(Double.isNaN(ms) ? "–" : String.format(Locale.ROOT, "%.0f", ms))
                    .append(" |\n");
        }
        b.append('\n');
        for (String method : r.offBudget()) {
            long[] active = r.params(method, "active_trainable_params");
            b.append(String.format(Locale.ROOT, "- **Not the same budget**: %s ends with %+.1f%% active parameters against %s "
                            + "(more than %.0f%% apart), so the comparison is not at an equal parameter budget.%n", method,
                    100.0 * (active[1] - baseActive[1]) / baseActive[1], base, 100 * GridResults.BUDGET_TOLERANCE));
        }
        if (!r.offBudget().isEmpty()) {
            b.append('\n');
        }
    }

    /** "+4,620 (+2.1%)": the largest active count against the baseline's largest (the same task's head). */
    static String relative(long[] v, long[] base) {
        if (v.length == 0 || base.length == 0 || base[1] == 0) {
            return "–";
        }
        long d = v[1] - base[1];
        return String.format(Locale.ROOT, "%s%,d (%+.1f%%)", d >= 0 ? "+" : "−", Math.abs(d), 100.0 * d / base[1]);
    }

    static String meanWithCi(PairedStats.Summary st) {
        if (Double.isNaN(st.mean())) {
            return "–";
        }
        return Double.isNaN(st.ciLow()) ? signed(st.mean())
                : signed(st.mean()) + " [" + signed(st.ciLow()) + ", " + signed(st.ciHigh()) + "]";
    }

    /** "0.021", "0.0020", "< 0.0001", "1". */
    static String pValue(double p) {
        if (p >= 0.9995) {
            return "1";
        }
        if (p < 1e-4) {
            return "< 0.0001";
        }
        return p >= 0.01 ? String.format(Locale.ROOT, "%.3f", p) : String.format(Locale.ROOT, "%.2g", p);
    }

    /** A difference in points with its sign, two decimals: "+1.25", "−0.40", "0.00". */
    static String signed(double v) {
        String x = String.format(Locale.ROOT, "%.2f", Math.abs(v));
        if (x.equals("0.00")) {
            return "0.00";
        }
        return (v > 0 ? "+" : "−") + x;
    }

    /** "84.1 ± 0.7", "84.1" for one seed, "84.1 ± 0.7 (n=2)" when seeds are missing, "–" without data. */
    static String cell(GridResults.Stat st, int seeds, boolean average) {
        if (Double.isNaN(st.mean())) {
            return "–";
        }
        String v = String.format(Locale.ROOT, "%.1f", st.mean() * 100);
        if (!Double.isNaN(st.std())) {
            v += String.format(Locale.ROOT, " ± %.1f", st.std() * 100);
        }
        if (!average && st.n() < seeds) {
            v += " (n=" + st.n() + ")";
        }
        return v;
    }

    static String metricLabel(String metric) {
        return switch (metric) {
            case "mcc" -> "MCC";
            case "accuracy" -> "acc";
            case "f1" -> "F1";
            case "pearson" -> "Pearson";
            case "spearman" -> "Spearman";
            default -> metric;
        };
    }

    static String range(long[] v) {
        if (v.length == 0) {
            return "–";
        }
        return v[0] == v[1] ? String.format(Locale.ROOT, "%,d", v[0]) : String.format(Locale.ROOT, "%,d–%,d", v[0], v[1]);
    }

    static String duration(double seconds) {
        if (seconds >= 3600) {
            return String.format(Locale.ROOT, "%.1f h", seconds / 3600);
        }
        if (seconds >= 60) {
            return String.format(Locale.ROOT, "%.1f min", seconds / 60);
        }
        return String.format(Locale.ROOT, "%.0f s", seconds);
    }

    private static String settingsLine(GridSettings s) {
        StringBuilder lr = new StringBuilder();
        s.lrs().forEach((m, v) -> lr.append(lr.length() == 0 ? "" : ", ").append(m).append(' ')
                .append(v.size() == 1 ? v.get(0).toString() : v.stream().map(GridRun::lrLabel).toList().toString()));
        String epochs = s.epochs() + (s.epochsFor().isEmpty() ? "" : " (" + s.epochsFor().toString().replaceAll("[{}]", "") + ")");
        String limits = s.limitFor().isEmpty() ? "" : "; training examples limited: " + s.limitFor().toString().replaceAll("[{}]", "");
        String eval = s.evalLimit() > 0 ? "; dev limited to the first " + s.evalLimit() + " examples" : "";
        String targets = s.targets() == null ? "" : ", targets " + s.targets();
        return String.format(Locale.ROOT, "Settings: epochs %s, batch %d, max length %d, LoRA rank %d%s, threads %d; lr: %s%s%s. "
                + "Every run's figures are in results.json, its run folder beside it.%n", epochs, s.batch(), s.maxLen(), s.rank(),
                targets, s.threads(), lr, limits, eval);
    }

    private static String fileName(String path) {
        java.nio.file.Path p = java.nio.file.Path.of(path).getFileName();
        return p == null ? path : p.toString();
    }
}
