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
            b.append("| ").append(method).append(" |");
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
        s.lr().forEach((m, v) -> lr.append(lr.length() == 0 ? "" : ", ").append(m).append(' ').append(v));
        String epochs = s.epochs() + (s.epochsFor().isEmpty() ? "" : " (" + s.epochsFor().toString().replaceAll("[{}]", "") + ")");
        String limits = s.limitFor().isEmpty() ? "" : "; training examples limited: " + s.limitFor().toString().replaceAll("[{}]", "");
        String eval = s.evalLimit() > 0 ? "; dev limited to the first " + s.evalLimit() + " examples" : "";
        return String.format(Locale.ROOT, "Settings: epochs %s, batch %d, max length %d, LoRA rank %d, threads %d; lr: %s%s%s. "
                + "Every run's figures are in results.json, its run folder beside it.%n", epochs, s.batch(), s.maxLen(), s.rank(),
                s.threads(), lr, limits, eval);
    }

    private static String fileName(String path) {
        java.nio.file.Path p = java.nio.file.Path.of(path).getFileName();
        return p == null ? path : p.toString();
    }
}
