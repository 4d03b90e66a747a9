package dev.dynalora.cli.report;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.cli.report.RunData.EvalPoint;
import dev.dynalora.data.GlueTask;

import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Renders the report: one self-contained HTML file with the summary table, the chart containers, the data
 * as JSON in a {@code <script type="application/json">} element, ECharts inlined and the drawing script.
 *
 * <p>Chart containers: {@code chart-loss}, {@code chart-lr}, {@code chart-dev}; and for the i-th run (0-based,
 * in --run order) when it logged an allocation: {@code chart-importance-i}, {@code chart-rank-i},
 * {@code chart-layer-i}, {@code chart-kind-i}, {@code chart-gate-i} inside {@code allocation-i}. The summary is {@code summary-table}.
 */
public final class HtmlReport {
    public static final String DATA_ID = "report-data";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ObjectMapper PRETTY = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private HtmlReport() {
    }

    /** The tag every report carries in its head: how report --overwrite recognises a file it may replace. */
    public static final String GENERATOR = "<meta name=\"generator\" content=\"dynalora report\">";

    public static String render(List<RunData> runs) {
        ObjectNode model = ReportModel.build(runs);
        List<String> labels = ReportModel.labels(runs);
        StringBuilder h = new StringBuilder(1 << 20);
        h.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
                .append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
                .append(GENERATOR).append("\n")
                .append("<title>dynalora report: ").append(esc(String.join(", ", labels))).append("</title>\n")
                .append("<style>\n").append(ReportScript.CSS).append("</style>\n</head>\n<body>\n");
        h.append("<header><h1>dynalora report</h1><p>").append(runs.size() == 1 ? "Run " : runs.size() + " runs: ")
                .append(esc(String.join(", ", labels))).append("</p></header>\n<main>\n");
        String note = Comparability.note(runs);
        if (note != null) {
            h.append("<p class=\"card\"><strong>Note:</strong> ").append(esc(note)).append(".</p>\n");
        }
        h.append("<noscript><p class=\"card\">The charts need JavaScript; the summary table does not.</p></noscript>\n");
        summary(h, runs, labels);

        h.append("<h2>Training</h2>\n<div class=\"grid2\">\n");
        card(h, "chart-loss", "Training loss", "Mean loss over the steps since the previous log line (--log-every), per run.");
        card(h, "chart-lr", "Learning rate", "Linear warm-up and decay schedule, per run.");
        h.append("</div>\n");
        card(h, "chart-dev", "Dev metrics per epoch", "Metrics on the dev split after each epoch.");

        h.append("<h2>Rank allocation</h2>\n");
        boolean anyAdaptive = false;
        for (int i = 0; i < runs.size(); i++) {
            if (runs.get(i).allocation().isEmpty()) {
                continue;
            }
            anyAdaptive = true;
            int modules = runs.get(i).allocation().stream().mapToInt(r -> r.modules().size()).max().orElse(0);
            h.append("<section class=\"card\" id=\"allocation-").append(i).append("\">\n<h3 class=\"run-title\">")
                    .append(esc(labels.get(i))).append("</h3>\n");
            h.append("<h3>Importance per module</h3>\n<p class=\"caption\">Sensitivity-based importance of each")
                    .append(" adapted module at each logged step; colour on a log scale, blank where it is 0 or not")
                    .append(" measured yet.</p>\n");
            h.append("<div id=\"chart-importance-").append(i).append("\" class=\"chart\" style=\"height:")
                    .append(Math.max(240, 20 * modules + 120)).append("px\"></div>\n");
            h.append("<div class=\"grid2\">\n<div><h3>Rank per module</h3><p class=\"caption\">Active rank of each")
                    .append(" module over time (click legend entries to hide or show modules).</p>\n<div id=\"chart-rank-")
                    .append(i).append("\" class=\"chart\"></div></div>\n");
            h.append("<div><h3>Rank per transformer layer</h3><p class=\"caption\">Sum of the ranks of each layer's")
                    .append(" modules; dashed: all modules together.</p>\n<div id=\"chart-layer-").append(i)
                    .append("\" class=\"chart\"></div></div>\n</div>\n");
            h.append("<h3>Rank per module kind</h3>\n<p class=\"caption\">Sum of the ranks of each kind of module")
                    .append(" over all layers (query, value, attn.out, ffn.in, ffn.out, ...): where capacity moved between")
                    .append(" attention and the MLP; the legend gives each kind's first and last total.</p>\n<div id=\"chart-kind-")
                    .append(i).append("\" class=\"chart\"></div>\n");
            h.append("<h3>Gate values</h3>\n<p class=\"caption\">Input gate over the training examples since the")
                    .append(" previous record: mean over all modules with ±1 std and min–max bands; pick modules in the")
                    .append(" legend to see each one's mean and min–max band.</p>\n<div id=\"chart-gate-").append(i)
                    .append("\" class=\"chart\"></div>\n</section>\n");
        }
        if (!anyAdaptive) {
            h.append("<p class=\"card caption\">No run here logged an allocation (allocation.jsonl is written by")
                    .append(" the adalora and dynamic methods).</p>\n");
        }
        h.append("</main>\n<footer>Written by dynalora report; charts by Apache ECharts ").append(EChartsLibrary.VERSION)
                .append(" (Apache License 2.0), inlined.</footer>\n");
        h.append("<script type=\"application/json\" id=\"").append(DATA_ID).append("\">").append(embeddedJson(model))
                .append("</script>\n");
        h.append("<script>\n").append(EChartsLibrary.script()).append("\n</script>\n");
        h.append("<script>\n").append(ReportScript.JS).append("</script>\n</body>\n</html>\n");
        return h.toString();
    }

    /**
     * JSON for a script element: '<', '>' and '&' only ever occur inside JSON strings, where \\u escapes mean
     * the same, so escaping all of them keeps the JSON identical while "&lt;/script" or "&lt;!--" can never
     * appear in the element's text.
     */
    static String embeddedJson(JsonNode node) {
        try {
            return JSON.writeValueAsString(node).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026");
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void card(StringBuilder h, String id, String title, String caption) {
        h.append("<div class=\"card\"><h3>").append(esc(title)).append("</h3><p class=\"caption\">").append(esc(caption))
                .append("</p><div id=\"").append(id).append("\" class=\"chart\"></div></div>\n");
    }

    private static void summary(StringBuilder h, List<RunData> runs, List<String> labels) {
        h.append("<section class=\"card\" id=\"summary\">\n<h2 style=\"margin-top:0\">Summary</h2>\n<div class=\"table-wrap\">")
                .append("<table id=\"summary-table\">\n<thead><tr><th>run</th><th>model</th><th>task</th><th>method</th>")
                .append("<th>trainable params</th><th>active params</th><th>best</th><th>final</th><th>steps</th>")
                .append("<th>train time</th><th>tokens/s</th><th>status</th></tr></thead>\n<tbody>\n");
        for (int i = 0; i < runs.size(); i++) {
            RunData r = runs.get(i);
            ObjectNode s = r.summary();
            Map<String, Double> best = s == null ? null : metrics(s.get("best"));
            Map<String, Double> fin = s == null ? null : metrics(s.get("final"));
            if (s == null && !r.evals().isEmpty()) {
                fin = r.evals().get(r.evals().size() - 1).metrics();
                best = bestSoFar(r);
            }
            String model = r.model();
            String modelShort = model == null ? "–" : model.replaceAll("[/\\\\]+$", "").replaceAll(".*[/\\\\]", "");
            h.append("<tr><td class=\"run\" title=\"").append(esc(r.dir().toAbsolutePath().normalize().toString())).append("\">")
                    .append(esc(labels.get(i))).append("</td>")
                    .append("<td title=\"").append(esc(model == null ? "" : model)).append("\">").append(esc(modelShort)).append("</td>")
                    .append("<td>").append(esc(orDash(r.task()))).append("</td>")
                    .append("<td>").append(esc(orDash(r.method()))).append("</td>")
                    .append(numCell(s, "trainable_params")).append(numCell(s, "active_trainable_params"))
                    .append("<td class=\"metrics\">").append(metricsCell(best)).append("</td>")
                    .append("<td class=\"metrics\">").append(metricsCell(fin)).append("</td>");
            long steps = s != null && s.path("steps").canConvertToLong() ? s.get("steps").asLong()
                    : r.train().isEmpty() ? 0 : r.train().get(r.train().size() - 1).step();
            h.append("<td class=\"num\">").append(String.format(Locale.ROOT, "%,d", steps)).append("</td>")
                    .append("<td class=\"num\">").append(s != null && s.path("train_time_s").isNumber()
                            ? esc(duration(s.get("train_time_s").asDouble())) : "–").append("</td>")
                    .append(numCell(s, "tokens_per_s"))
                    .append("<td>").append(status(r)).append("</td></tr>\n");
        }
        h.append("</tbody>\n</table></div>\n");
        h.append("<details><summary>Run configurations (run_config.json)</summary>\n");
        for (int i = 0; i < runs.size(); i++) {
            h.append("<h3 class=\"run-title\" style=\"margin-top:10px\">").append(esc(labels.get(i))).append("</h3><pre>");
            try {
                h.append(esc(PRETTY.writeValueAsString(runs.get(i).config())));
            } catch (JsonProcessingException e) {
                throw new UncheckedIOException(e);
            }
            h.append("</pre>\n");
        }
        h.append("</details>\n</section>\n");
    }

    private static String status(RunData r) {
        if (r.diverged() != null) {
            JsonNode step = r.diverged().get("step");
            return "<span class=\"status-bad\">diverged" + (step != null && step.canConvertToLong() ? " at step " + step.asLong() : "")
                    + "</span>";
        }
        if (r.summary() != null) {
            return "<span class=\"status-ok\">finished</span>";
        }
        return "<span class=\"status-open\">running or stopped (no summary yet)</span>";
    }

    /** The best dev metrics so far of a run without a summary, by the task's primary metric. */
    private static Map<String, Double> bestSoFar(RunData r) {
        String primary;
        try {
            primary = GlueTask.parse(r.task()).primaryMetric();
        } catch (RuntimeException e) {
            primary = "score";
        }
        Map<String, Double> best = null;
        for (EvalPoint e : r.evals()) {
            Double v = e.metrics().get(primary);
            if (v != null && (best == null || best.get(primary) == null || v > best.get(primary))) {
                best = e.metrics();
            }
        }
        return best;
    }

    private static Map<String, Double> metrics(JsonNode n) {
        if (n == null || !n.isObject()) {
            return null;
        }
        Map<String, Double> out = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            out.put(e.getKey(), e.getValue().isNumber() ? e.getValue().asDouble() : null);
        }
        return out;
    }

    private static String metricsCell(Map<String, Double> m) {
        if (m == null || m.isEmpty()) {
            return "–";
        }
        List<String> parts = new ArrayList<>();
        m.forEach((k, v) -> parts.add(esc(k) + " " + (v == null ? "–" : String.format(Locale.ROOT, "%.4f", v))));
        return String.join("<br>", parts);
    }

    private static String numCell(ObjectNode s, String key) {
        JsonNode v = s == null ? null : s.get(key);
        String text = v != null && v.isNumber() ? String.format(Locale.ROOT, "%,d", Math.round(v.asDouble())) : "–";
        return "<td class=\"num\">" + text + "</td>";
    }

    static String duration(double seconds) {
        if (seconds < 60) {
            return String.format(Locale.ROOT, "%.1f s", seconds);
        }
        long s = Math.round(seconds);
        if (s < 3600) {
            return String.format(Locale.ROOT, "%d min %02d s", s / 60, s % 60);
        }
        return String.format(Locale.ROOT, "%d h %02d min", s / 3600, (s % 3600) / 60);
    }

    private static String orDash(String s) {
        return s == null ? "–" : s;
    }

    /** Escapes text for HTML element content and quoted attribute values. */
    static String esc(String s) {
        StringBuilder b = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '&' -> b.append("&amp;");
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&#39;");
                default -> b.append(c);
            }
        }
        return b.toString();
    }
}
