package dev.dynalora.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static dev.dynalora.cli.BadInputTest.assertUserError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * dynalora report: a self-contained HTML file with every chart for a real (tiny) Dynamic LoRA run, several runs
 * overlaid, bad input refused with one line naming file:line, existing files never clobbered, and names from
 * the runs escaped.
 */
class ReportCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern DATA = Pattern.compile(
            "<script type=\"application/json\" id=\"report-data\">(.*?)</script>", Pattern.DOTALL);
    private static final List<String> MODULES = List.of("encoder.layer.0.attention.self.query",
            "encoder.layer.0.attention.self.value", "encoder.layer.1.attention.self.query", "encoder.layer.1.attention.self.value");

    @TempDir
    static Path shared;
    static Path dynamicRun;

    @BeforeAll
    static void trainTinyDynamicRun() {
        dynamicRun = shared.resolve("dyn");
        CliRunner.Result r = DynamicLoraEndToEndTest.train(dynamicRun, "dynamic");
        assertEquals(0, r.exit(), r.err());
    }

    static JsonNode embeddedData(String html) throws IOException {
        Matcher m = DATA.matcher(html);
        assertTrue(m.find(), "no embedded report data");
        return JSON.readTree(m.group(1));
    }

    static List<Double> doubles(JsonNode arr) {
        List<Double> out = new ArrayList<>();
        arr.forEach(n -> out.add(n.isNull() ? null : n.asDouble()));
        return out;
    }

    @Test
    void dynamicRunReportHoldsEveryChart() throws Exception {
        Path out = dynamicRun.resolve("report.html");
        Files.deleteIfExists(out);
        CliRunner.Result r = CliRunner.run("report", "--run", dynamicRun.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(Files.isRegularFile(out), "default --out is RUN_DIR/report.html");
        assertTrue(r.out().contains("report.html"), r.out());
        String html = Files.readString(out);
        for (String id : List.of("summary-table", "chart-loss", "chart-lr", "chart-dev", "allocation-0", "chart-importance-0",
                "chart-rank-0", "chart-layer-0", "chart-kind-0", "chart-gate-0")) {
            assertTrue(html.contains("id=\"" + id + "\""), "missing container " + id);
        }
        // Self-contained: the library is inlined, nothing is fetched.
        assertTrue(html.length() > 500_000, "ECharts should be inlined");
        assertTrue(html.contains("echarts"));
        String markup = html.replaceAll("(?s)(<script[^>]*>).*?</script>", "$1</script>");
        assertEquals(3, count(markup, "<script"), "data, library, drawing script");
        assertFalse(Pattern.compile("<(script|link|img|iframe|object|embed)[^>]*\\s(src|href|data)\\s*=", Pattern.CASE_INSENSITIVE)
                .matcher(markup).find(), "the report must not load anything");
        assertFalse(markup.contains("@import") || markup.contains("url("), "no style sheet fetches either");

        JsonNode run = embeddedData(html).get("runs").get(0);
        assertEquals("dyn (dynamic)", run.get("label").asText());
        assertEquals("dynamic", run.get("method").asText());
        assertEquals("mrpc", run.get("task").asText());
        JsonNode train = run.get("train");
        assertEquals(12, train.get("step").size(), "96 examples / batch 8, logged every step");
        assertEquals(12, train.get("loss").size());
        assertEquals(12, train.get("lr").size());
        assertEquals(1, run.get("eval").size());
        assertTrue(run.get("eval").get(0).get("metrics").has("f1"));

        JsonNode a = run.get("allocation");
        assertEquals(12, a.get("step").size());
        assertEquals(1, a.get("step").get(0).asInt(), "allocation steps count steps done, like metrics.jsonl");
        assertEquals(12, a.get("step").get(11).asInt());
        assertEquals(12, a.get("modules").size(), "query and value in 6 layers");
        assertEquals("L0 query", a.get("modules").get(0).get("label").asText());
        assertEquals("encoder.layer.0.attention.self.query", a.get("modules").get(0).get("name").asText());
        for (String key : List.of("rank", "importance")) {
            assertEquals(12, a.get(key).size(), key);
            a.get(key).forEach(row -> assertEquals(12, row.size(), key));
        }
        assertTrue(doubles(a.get("importance").get(0)).stream().anyMatch(v -> v != null && v > 0), "importance measured");
        for (String key : List.of("mean", "std", "min", "max")) {
            assertEquals(12, a.get("gate").get(key).size(), key);
            assertEquals(12, a.get("gate_all").get(key).size(), key);
        }
        for (int s = 0; s < 12; s++) {
            double lo = a.get("gate_all").get("min").get(s).asDouble();
            double mean = a.get("gate_all").get("mean").get(s).asDouble();
            double hi = a.get("gate_all").get("max").get(s).asDouble();
            assertTrue(lo <= mean && mean <= hi, "gate band must hold the mean at record " + s);
        }
        JsonNode layers = a.get("layers");
        assertEquals(6, layers.size());
        assertEquals("0", layers.get(0).get("layer").asText());
        JsonNode kinds = a.get("kinds");
        assertEquals(2, kinds.size(), "query and value");
        assertEquals("query", kinds.get(0).get("kind").asText());
        assertEquals("value", kinds.get(1).get("kind").asText());
        // The parameter budget: LoRA's 12 x 8 components of 768 parameters, less the gates' 12 x 385, leaves
        // 89 whole components, at every record.
        for (int s = 0; s < 12; s++) {
            int sum = 0;
            for (JsonNode l : layers) {
                sum += l.get("rank").get(s).asInt();
            }
            int byKind = kinds.get(0).get("rank").get(s).asInt() + kinds.get(1).get("rank").get(s).asInt();
            assertEquals(89, a.get("total_rank").get(s).asInt());
            assertEquals(89, sum, "layer totals add up to the budget");
            assertEquals(89, byKind, "kind totals add up to the budget");
        }
        String summaryLine = Files.readAllLines(dynamicRun.resolve("metrics.jsonl")).stream()
                .filter(l -> l.contains("\"summary\"")).findFirst().orElseThrow();
        long trainable = JSON.readTree(summaryLine).get("trainable_params").asLong();
        assertTrue(html.contains(String.format(java.util.Locale.ROOT, "<td class=\"num\">%,d</td>", trainable)),
                "trainable params in the table");
        assertTrue(html.contains(">finished<"));
    }

    @Test
    void severalRunsAreOverlaid(@TempDir Path dir) throws Exception {
        Path ada = syntheticRun(dir.resolve("ada"), "adalora", true, true);
        Path lora = syntheticRun(dir.resolve("lora"), "lora", false, false);
        Path out = dir.resolve("cmp.html");
        assertUserError(CliRunner.run("report", "--run", dynamicRun.toString(), "--run", ada.toString()), "--out is required");

        CliRunner.Result r = CliRunner.run("report", "--run", dynamicRun.toString(), "--run", ada.toString(),
                "--run", lora.toString(), "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        String html = Files.readString(out);
        JsonNode runs = embeddedData(html).get("runs");
        assertEquals(3, runs.size());
        assertEquals(List.of("dyn (dynamic)", "ada (adalora)", "lora (lora)"),
                List.of(runs.get(0).get("label").asText(), runs.get(1).get("label").asText(), runs.get(2).get("label").asText()));
        for (JsonNode run : runs) {
            assertTrue(run.get("train").get("loss").size() > 0, "every run has its loss series");
        }
        // AdaLoRA logs ranks only; LoRA has no allocation at all.
        JsonNode adaAlloc = runs.get(1).get("allocation");
        assertTrue(adaAlloc.get("importance").isNull());
        assertTrue(adaAlloc.get("gate").isNull());
        assertEquals(List.of(13.0, 11.0, 9.0), doubles(adaAlloc.get("total_rank")));
        assertTrue(runs.get(2).get("allocation").isNull());
        assertTrue(html.contains("id=\"chart-rank-1\""));
        assertFalse(html.contains("id=\"allocation-2\""), "no allocation charts for a LoRA run");
        assertEquals(1, count(html, "id=\"chart-loss\""), "one overlaid loss chart");
        // The synthetic LoRA run has no summary yet: the table says so and shows its last dev metrics.
        assertTrue(html.contains("no summary yet"));
        assertTrue(html.contains("accuracy 0.5000"));
    }

    @Test
    void runsWithTheSameFolderNameGetDistinctLabels(@TempDir Path dir) throws Exception {
        Path a = syntheticRun(dir.resolve("a/run"), "lora", false, false);
        Path b = syntheticRun(dir.resolve("b/run"), "lora", false, false);
        Path out = dir.resolve("r.html");
        assertEquals(0, CliRunner.run("report", "--run", a.toString(), "--run", b.toString(), "--out", out.toString()).exit());
        JsonNode runs = embeddedData(Files.readString(out)).get("runs");
        assertEquals("run (lora)", runs.get(0).get("label").asText());
        assertEquals("run (lora) #2", runs.get(1).get("label").asText());
        assertUserError(CliRunner.run("report", "--run", a.toString(), "--run", a.toString(), "--out", out.toString(), "--overwrite"),
                "given twice");
    }

    @Test
    void badInputIsRefusedWithFileAndLine(@TempDir Path dir) throws Exception {
        assertUserError(CliRunner.run("report", "--run", dir.resolve("nope").toString()), "nope");

        Path notRun = Files.createDirectories(dir.resolve("empty"));
        assertUserError(CliRunner.run("report", "--run", notRun.toString()), "not a dynalora run folder");

        Path file = Files.writeString(dir.resolve("file.txt"), "x");
        assertUserError(CliRunner.run("report", "--run", file.toString()), "not a folder");

        Path noMetrics = Files.createDirectories(dir.resolve("nometrics"));
        Files.writeString(noMetrics.resolve("run_config.json"), "{\"method\": \"lora\"}");
        assertUserError(CliRunner.run("report", "--run", noMetrics.toString()), "metrics.jsonl");

        Path badConfig = syntheticRun(dir.resolve("badconfig"), "lora", false, true);
        Files.writeString(badConfig.resolve("run_config.json"), "{\"method\": ");
        assertUserError(CliRunner.run("report", "--run", badConfig.toString()), "run_config.json");

        Path badJson = syntheticRun(dir.resolve("badjson"), "lora", false, true);
        List<String> lines = new ArrayList<>(Files.readAllLines(badJson.resolve("metrics.jsonl")));
        lines.set(2, "{\"type\": \"train\", \"step\": 3, \"loss\": 0.5,");
        Files.write(badJson.resolve("metrics.jsonl"), lines);
        assertUserError(CliRunner.run("report", "--run", badJson.toString()), "metrics.jsonl:3:");

        Path noLoss = syntheticRun(dir.resolve("noloss"), "lora", false, true);
        lines = new ArrayList<>(Files.readAllLines(noLoss.resolve("metrics.jsonl")));
        lines.set(1, "{\"type\": \"train\", \"step\": 2, \"lr\": 0.1}");
        Files.write(noLoss.resolve("metrics.jsonl"), lines);
        CliRunner.Result r = CliRunner.run("report", "--run", noLoss.toString());
        assertUserError(r, "metrics.jsonl:2:");
        assertTrue(r.err().contains("loss"), r.err());

        Path notObject = syntheticRun(dir.resolve("notobject"), "lora", false, true);
        Files.writeString(notObject.resolve("metrics.jsonl"), "[1, 2]\n");
        assertUserError(CliRunner.run("report", "--run", notObject.toString()), "metrics.jsonl:1:");

        Path badAlloc = syntheticRun(dir.resolve("badalloc"), "dynamic", true, true);
        lines = new ArrayList<>(Files.readAllLines(badAlloc.resolve("allocation.jsonl")));
        lines.set(1, lines.get(1).substring(0, lines.get(1).length() / 2));
        Files.write(badAlloc.resolve("allocation.jsonl"), lines);
        assertUserError(CliRunner.run("report", "--run", badAlloc.toString()), "allocation.jsonl:2:");

        Path badRank = syntheticRun(dir.resolve("badrank"), "dynamic", true, true);
        lines = new ArrayList<>(Files.readAllLines(badRank.resolve("allocation.jsonl")));
        lines.set(0, lines.get(0).replaceFirst("\"rank\":\\d+", "\"rank\":\"eight\""));
        Files.write(badRank.resolve("allocation.jsonl"), lines);
        r = CliRunner.run("report", "--run", badRank.toString());
        assertUserError(r, "allocation.jsonl:1:");
        assertTrue(r.err().contains("rank"), r.err());

        // A bad run among good ones: nothing is written.
        Path out = dir.resolve("cmp.html");
        assertUserError(CliRunner.run("report", "--run", dynamicRun.toString(), "--run", badRank.toString(), "--out", out.toString()),
                "allocation.jsonl:1:");
        assertFalse(Files.exists(out));
        for (Path p : List.of(badJson, noLoss, notObject, badAlloc, badRank, badConfig)) {
            assertFalse(Files.exists(p.resolve("report.html")), p.toString());
        }
        // --out naming a folder.
        assertUserError(CliRunner.run("report", "--run", syntheticRun(dir.resolve("ok"), "lora", false, true).toString(),
                "--out", dir.toString()), "is a folder");
    }

    @Test
    void existingReportIsNotClobbered(@TempDir Path dir) throws Exception {
        Path run = syntheticRun(dir.resolve("run"), "dynamic", true, true);
        Path out = run.resolve("report.html");
        Files.writeString(out, "precious");
        assertUserError(CliRunner.run("report", "--run", run.toString()), "--overwrite");
        assertEquals("precious", Files.readString(out));

        // "precious" is not a report: --overwrite replaces only a report written before.
        assertUserError(CliRunner.run("report", "--run", run.toString(), "--overwrite"), "not a report");
        assertEquals("precious", Files.readString(out));
        Files.delete(out);
        assertEquals(0, CliRunner.run("report", "--run", run.toString()).exit());
        CliRunner.Result r = CliRunner.run("report", "--run", run.toString(), "--overwrite");
        assertEquals(0, r.exit(), r.err());
        String html = Files.readString(out);
        assertTrue(html.startsWith("<!DOCTYPE html>") && html.strip().endsWith("</html>"));
        try (Stream<Path> s = Files.list(run)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().endsWith(".tmp")), "no temporary file left");
        }
    }

    @Test
    void namesFromTheRunAreEscaped(@TempDir Path dir) throws Exception {
        String evilModule = "encoder.layer.0.</script><b id=\"evil\">x</b><!--";
        Path run = dir.resolve("a&b<i>\"q'");
        syntheticRun(run, "dynamic", true, true, evilModule, "f1</script><b>");
        Path out = dir.resolve("r.html");
        CliRunner.Result r = CliRunner.run("report", "--run", run.toString(), "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        String html = Files.readString(out);
        assertEquals(3, count(html.toLowerCase(), "</script"), "only our own three script elements may close");
        assertFalse(html.contains("<b id=\"evil\">"));
        assertFalse(html.contains("<b>"));
        assertFalse(html.contains("<i>"));
        assertEquals(0, count(html, "<!--"), "no comment may open in the page");
        JsonNode data = embeddedData(html);
        JsonNode runNode = data.get("runs").get(0);
        assertEquals("a&b<i>\"q'", runNode.get("name").asText());
        assertEquals(evilModule, runNode.get("allocation").get("modules").get(0).get("name").asText());
        assertTrue(runNode.get("eval").get(0).get("metrics").has("f1</script><b>"));
        assertTrue(html.contains("a&amp;b&lt;i&gt;&quot;q&#39;"), "run name escaped in the page text");
    }

    private static int count(String s, String part) {
        int n = 0;
        for (int i = s.indexOf(part); i >= 0; i = s.indexOf(part, i + 1)) {
            n++;
        }
        return n;
    }

    static Path syntheticRun(Path dir, String method, boolean allocation, boolean summary) throws IOException {
        return syntheticRun(dir, method, allocation, summary, null, "f1");
    }

    /**
     * A small run folder in the format GlueTrainer writes: 3 train steps, 2 evaluations, optionally a summary
     * and (for adaptive methods) three allocation records; {@code firstModule} replaces the first module name.
     */
    static Path syntheticRun(Path dir, String method, boolean allocation, boolean summary, String firstModule, String f1Name)
            throws IOException {
        Files.createDirectories(dir);
        ObjectNode cfg = JSON.createObjectNode().put("model", "/models/all-MiniLM-L6-v2").put("task", "mrpc").put("method", method);
        Files.writeString(dir.resolve("run_config.json"), JSON.writeValueAsString(cfg));
        List<String> metrics = new ArrayList<>();
        for (int s = 1; s <= 3; s++) {
            metrics.add(JSON.writeValueAsString(Map.of("type", "train", "step", s, "epoch", s / 3.0, "loss", 1.0 / s,
                    "lr", 1e-4 * s, "grad_norm", 0.5, "tokens_per_s", 100)));
        }
        for (int e = 1; e <= 2; e++) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("accuracy", 0.5);
            m.put(f1Name, 0.25 * e);
            metrics.add(JSON.writeValueAsString(Map.of("type", "eval", "epoch", e, "step", 3, "split", "dev",
                    "train_loss", 0.4, "metrics", m)));
        }
        if (summary) {
            Map<String, Object> s = new LinkedHashMap<>();
            s.put("type", "summary");
            s.put("model", "/models/all-MiniLM-L6-v2");
            s.put("task", "mrpc");
            s.put("method", method);
            s.put("trainable_params", 1234);
            s.put("active_trainable_params", 1000);
            s.put("steps", 3);
            s.put("train_time_s", 75.5);
            s.put("tokens_per_s", 321);
            s.put("best", Map.of("accuracy", 0.5));
            s.put("final", Map.of("accuracy", 0.5));
            metrics.add(JSON.writeValueAsString(s));
        }
        Files.write(dir.resolve("metrics.jsonl"), metrics);
        if (allocation) {
            List<String> lines = new ArrayList<>();
            int[][] ranks = {{4, 3, 3, 3}, {4, 3, 2, 2}, {3, 3, 2, 1}};
            for (int s = 0; s < 3; s++) {
                ObjectNode rec = JSON.createObjectNode().put("step", s).put("budget", 13 - 2 * s);
                ObjectNode mods = rec.putObject("modules");
                for (int m = 0; m < MODULES.size(); m++) {
                    String name = m == 0 && firstModule != null ? firstModule : MODULES.get(m);
                    ObjectNode o = mods.putObject(name);
                    if (method.equals("dynamic")) {
                        o.put("importance", s == 0 ? 0.0 : 1e-10 * (m + 1) * s);
                    }
                    o.put("rank", ranks[s][m]);
                    if (method.equals("dynamic")) {
                        o.put("gate_examples", 8).put("gate_mean", 0.9 + 0.01 * m).put("gate_std", 0.01)
                                .put("gate_min", 0.85).put("gate_max", 1.0);
                    }
                }
                lines.add(JSON.writeValueAsString(rec));
            }
            Files.write(dir.resolve("allocation.jsonl"), lines);
        }
        assertNotNull(dir);
        return dir;
    }
}
