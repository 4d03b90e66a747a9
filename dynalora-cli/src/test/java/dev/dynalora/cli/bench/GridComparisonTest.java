package dev.dynalora.cli.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.UserInputException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Learning-rate grids (folder names, resume, the selection rule) and the paired comparison with the baseline,
 * on made-up runs whose outcome is known.
 */
class GridComparisonTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static GridSettings settings(List<String> tasks, List<String> methods, int seeds, Map<String, List<Double>> lrs,
                                         String targets) {
        return new GridSettings("/models/tiny", "/glue", tasks, methods, seeds, 1, Map.of(), Map.of(), 0, 128, 32, 8, targets, 2, lrs);
    }

    /** A complete run whose every metric (and score) is {@code score} at the best and last epoch. */
    private static GridResults.Entry run(String task, String method, int seed, double lr, boolean named, double score,
                                         long active, double seconds) {
        ObjectNode s = JSON.createObjectNode();
        s.put("type", "summary");
        for (String pick : List.of("best", "final")) {
            ObjectNode m = s.putObject(pick);
            for (String metric : List.of("mcc", "accuracy", "f1", "score")) {
                m.put(metric, score);
            }
        }
        s.put("trainable_params", active + 1000);
        s.put("active_trainable_params", active);
        s.put("train_time_s", seconds);
        s.put("steps", 100);
        return new GridResults.Entry(new GridRun(task, method, seed, lr, named), "complete", s, null);
    }

    @Test
    void lrLabels() {
        assertEquals("2e-3", GridRun.lrLabel(2e-3));
        assertEquals("5e-4", GridRun.lrLabel(5e-4));
        assertEquals("1.5e-3", GridRun.lrLabel(1.5e-3));
        assertEquals("3e-5", GridRun.lrLabel(3e-5));
        assertEquals("1e-4", GridRun.lrLabel(0.0001));
        assertEquals("1", GridRun.lrLabel(1.0));
        assertEquals("1e1", GridRun.lrLabel(10));
    }

    @Test
    void folderNamesCarryTheRateOnlyForMethodsWithSeveral() {
        Map<String, List<Double>> lrs = new LinkedHashMap<>();
        lrs.put("lora", List.of(5e-4, 2e-3));
        lrs.put("dynamic", List.of(5e-4));
        GridSettings s = settings(List.of("mrpc"), List.of("lora", "dynamic"), 2, lrs, null);
        assertEquals(List.of("mrpc-lora-lr5e-4-s1", "mrpc-lora-lr2e-3-s1", "mrpc-dynamic-s1",
                "mrpc-lora-lr5e-4-s2", "mrpc-lora-lr2e-3-s2", "mrpc-dynamic-s2"), s.runs().stream().map(GridRun::dirName).toList());
        GridRun high = s.runs().get(1);
        List<String> args = s.trainArgs(high, Path.of("/out/x"));
        assertEquals("0.002", args.get(args.indexOf("--lr") + 1));
        assertFalse(args.contains("--targets"), "no --targets unless given");
        // grid_config.json: a number for one rate, a list for several.
        assertEquals(JSON.valueToTree(Map.of("dynamic", 5e-4, "lora", List.of(5e-4, 2e-3))), s.toJson().get("lr"));
        assertFalse(s.toJson().has("targets"));

        GridSettings t = settings(List.of("mrpc"), List.of("head", "lora"), 1,
                GridSettings.single(Map.of("head", 5e-4, "lora", 5e-4)), "all-linear");
        assertEquals("all-linear", t.toJson().get("targets").asText());
        List<String> lora = t.trainArgs(t.runs().get(1), Path.of("/out/y"));
        assertEquals("all-linear", lora.get(lora.indexOf("--targets") + 1));
        assertFalse(t.trainArgs(t.runs().get(0), Path.of("/out/z")).contains("--targets"), "head-only adapts nothing");
    }

    @Test
    void gridsWrittenBeforeRateListsStillResume(@TempDir Path dir) throws Exception {
        // grid_config.json as every grid before --lr-for lists and --targets wrote it (bench/results/glue-v2-lr2e-3).
        String old = """
                {"model":"/models/tiny","data":"/glue","tasks":["mrpc"],"methods":["lora","dynamic"],"seeds":2,"epochs":1,
                 "epochs_for":{},"limit_for":{},"eval_limit":0,"max_len":128,"batch":32,"rank":8,"threads":2,
                 "lr":{"dynamic":0.002,"lora":0.002}}
                """;
        Files.writeString(dir.resolve(GridSettings.FILE), old);
        GridSettings same = settings(List.of("mrpc"), List.of("lora", "dynamic"), 2,
                GridSettings.single(Map.of("lora", 2e-3, "dynamic", 2e-3)), null);
        GridFolder.prepare(dir, same);
        assertEquals(old, Files.readString(dir.resolve(GridSettings.FILE)), "the saved settings are left as they were");
        assertEquals(List.of("mrpc-lora-s1", "mrpc-dynamic-s1", "mrpc-lora-s2", "mrpc-dynamic-s2"),
                same.runs().stream().map(GridRun::dirName).toList());

        GridSettings grid = settings(List.of("mrpc"), List.of("lora", "dynamic"), 2,
                Map.of("lora", List.of(2e-3, 1e-3), "dynamic", List.of(2e-3)), null);
        UserInputException e = assertThrows(UserInputException.class, () -> GridFolder.prepare(dir, grid));
        assertTrue(e.getMessage().contains("lr: {\"dynamic\":0.002,\"lora\":0.002} there, {\"dynamic\":0.002,\"lora\":[0.002,0.001]} now"),
                e.getMessage());
        // More seeds of the same grid: it grows (and the new seeds' runs are pending); fewer seeds is another grid.
        GridSettings five = settings(List.of("mrpc"), List.of("lora", "dynamic"), 5,
                GridSettings.single(Map.of("lora", 2e-3, "dynamic", 2e-3)), null);
        GridFolder.prepare(dir, five);
        assertEquals(5, JSON.readTree(dir.resolve(GridSettings.FILE).toFile()).get("seeds").asInt());
        GridFolder.prepare(dir, five);
        e = assertThrows(UserInputException.class, () -> GridFolder.prepare(dir, same));
        assertTrue(e.getMessage().contains("seeds: 5 there, 2 now"), e.getMessage());
        GridSettings sixAndOtherRate = settings(List.of("mrpc"), List.of("lora", "dynamic"), 6,
                GridSettings.single(Map.of("lora", 1e-3, "dynamic", 2e-3)), null);
        assertThrows(UserInputException.class, () -> GridFolder.prepare(dir, sixAndOtherRate), "more seeds and another rate");
        GridSettings targets = settings(List.of("mrpc"), List.of("lora", "dynamic"), 5,
                GridSettings.single(Map.of("lora", 2e-3, "dynamic", 2e-3)), "all-linear");
        e = assertThrows(UserInputException.class, () -> GridFolder.prepare(dir, targets));
        assertTrue(e.getMessage().contains("targets: null there, \"all-linear\" now"), e.getMessage());
    }

    @Test
    void completeRunsAreFoundUnderTheirFolderNames(@TempDir Path dir) throws Exception {
        GridSettings s = settings(List.of("mrpc"), List.of("lora", "dynamic"), 1,
                Map.of("lora", List.of(5e-4, 2e-3), "dynamic", List.of(5e-4)), null);
        String summary = "{\"type\":\"summary\",\"trainable_params\":10,\"active_trainable_params\":10,\"train_time_s\":1.0,"
                + "\"steps\":2,\"best\":{\"accuracy\":0.7,\"f1\":0.8,\"score\":0.75},\"final\":{\"accuracy\":0.7,\"f1\":0.8,\"score\":0.75}}\n";
        for (String run : List.of("mrpc-lora-lr2e-3-s1", "mrpc-dynamic-s1", "mrpc-lora-s1")) {
            Files.createDirectories(dir.resolve(run));
            Files.writeString(dir.resolve(run).resolve("metrics.jsonl"), summary);
        }
        GridRunner runner = new GridRunner(s, dir, "none", Map.of("mrpc", 16), 1000);
        GridResults r = GridResults.collect(s, runner, List.of(), true, "lora");
        Map<String, String> status = new LinkedHashMap<>();
        r.entries().forEach(e -> status.put(e.run().dirName(), e.status()));
        // mrpc-lora-s1 is not a run of this grid: lora has two rates, so its folders name them.
        assertEquals(Map.of("mrpc-lora-lr5e-4-s1", "pending", "mrpc-lora-lr2e-3-s1", "complete", "mrpc-dynamic-s1", "complete"), status);
        assertEquals(2e-3, r.chosenLr("lora"), "the only rate with results");
    }

    /**
     * lora at two rates over two tasks and three seeds. At 5e-4 it wins more tasks' seeds; at 2e-3 its average is
     * higher: the rule picks the average. dynamic at two rates picks 5e-4 by the same rule.
     */
    private static GridResults lrGrid(String baseline) {
        Map<String, List<Double>> lrs = Map.of("lora", List.of(5e-4, 2e-3), "dynamic", List.of(5e-4, 2e-3));
        GridSettings s = settings(List.of("cola", "mrpc"), List.of("lora", "dynamic"), 3, lrs, null);
        List<GridResults.Entry> e = new ArrayList<>();
        // lora 5e-4: cola 0.30, mrpc 0.80 -> average 0.55
        // lora 2e-3: cola 0.50, mrpc 0.70 -> average 0.60 (chosen)
        // dynamic 5e-4: cola 0.50 + d, mrpc 0.70 + d -> see below (chosen); dynamic 2e-3: 0.40, 0.60 -> 0.50
        double[] dynCola = {0.51, 0.50, 0.52};   // against lora 2e-3's 0.50: win, tie, win
        double[] dynMrpc = {0.72, 0.69, 0.706};  // against 0.70: win, loss, win
        for (int seed = 1; seed <= 3; seed++) {
            e.add(run("cola", "lora", seed, 5e-4, true, 0.30, 100, 10));
            e.add(run("mrpc", "lora", seed, 5e-4, true, 0.80, 100, 10));
            e.add(run("cola", "lora", seed, 2e-3, true, 0.50, 100, 20));
            e.add(run("mrpc", "lora", seed, 2e-3, true, 0.70, 100, 20));
            e.add(run("cola", "dynamic", seed, 5e-4, true, dynCola[seed - 1], 105, 30));
            e.add(run("mrpc", "dynamic", seed, 5e-4, true, dynMrpc[seed - 1], 105, 30));
            e.add(run("cola", "dynamic", seed, 2e-3, true, 0.40, 105, 40));
            e.add(run("mrpc", "dynamic", seed, 2e-3, true, 0.60, 105, 40));
        }
        return new GridResults(s, e, baseline);
    }

    @Test
    void eachMethodIsReportedAtTheRateWithTheBestAverage() {
        GridResults r = lrGrid("lora");
        assertEquals(2e-3, r.chosenLr("lora"));
        assertEquals(5e-4, r.chosenLr("dynamic"));
        assertEquals(0.60, r.average("lora", GridResults.Pick.BEST).mean(), 1e-12);
        assertEquals(0.55, r.average("lora", 5e-4, GridResults.Pick.BEST).mean(), 1e-12);
        assertEquals(0.50, r.stat("lora", "cola", GridResults.Pick.BEST, "mcc").mean(), 1e-12, "cells at the chosen rate");
        assertEquals(20.0, r.secondsPerRun("lora").mean(), 1e-9, "time of the chosen rate's runs only");

        String md = GridTable.markdown(r);
        assertTrue(md.contains("| lora, lr 2e-3 | 50.0 ± 0.0 | 70.0 ± 0.0 / 70.0 ± 0.0 | 60.0 ± 0.0 |"), md);
        assertTrue(md.contains("## Learning rates"), md);
        assertTrue(md.contains("| lora | 5e-4 | 55.0 ± 0.0 | 55.0 ± 0.0 | 3 of 3 |"), md);
        assertTrue(md.contains("| lora | **2e-3 (chosen)** | 60.0 ± 0.0 | 60.0 ± 0.0 | 3 of 3 |"), md);
        assertTrue(md.contains("| dynamic | **5e-4 (chosen)** |"), md);
        assertTrue(md.contains("| dynamic | 2e-3 | 50.0 ± 0.0 |"), md);

        // An exact tie goes to the rate listed first.
        GridSettings s = settings(List.of("mrpc"), List.of("lora"), 1, Map.of("lora", List.of(1e-3, 5e-4)), null);
        GridResults tie = new GridResults(s, List.of(run("mrpc", "lora", 1, 1e-3, true, 0.7, 1, 1),
                run("mrpc", "lora", 1, 5e-4, true, 0.7, 1, 1)), null);
        assertEquals(1e-3, tie.chosenLr("lora"));
    }

    @Test
    void pairedComparisonWithTheBaseline() {
        GridResults r = lrGrid("lora");
        assertNull(r.compare("lora"), "the baseline is not compared with itself");
        GridResults.Comparison c = r.compare("dynamic");
        // dynamic at 5e-4 against lora at 2e-3 (each at its chosen rate).
        assertEquals(List.of(1, 2, 3), List.copyOf(c.perTask().get("cola").keySet()));
        assertEquals(1.0, c.perTask().get("cola").get(1), 1e-9);
        assertEquals(0.0, c.perTask().get("cola").get(2), 1e-9);
        assertEquals(-1.0, c.perTask().get("mrpc").get(2), 1e-9);
        PairedStats.Summary st = c.stats();
        assertEquals(6, st.n());
        assertEquals(4, st.wins());
        assertEquals(1, st.ties());
        assertEquals(1, st.losses());
        assertEquals((1 + 0 + 2 + 2 - 1 + 0.6) / 6, st.mean(), 1e-9);
        assertEquals(12.0 / 32, st.signP(), 1e-12, "2 * (C(5,0) + C(5,1)) / 2^5");

        String md = GridTable.markdown(r);
        assertTrue(md.contains("## Paired comparison with lora"), md);
        assertTrue(md.contains("| dynamic | 6 | 4 / 1 / 1 | +0.77 [−0.46, +1.99] | 0.375 |"), md);
        assertTrue(md.contains("| dynamic | +1.00 (+1.00, 0.00, +2.00) | +0.53 (+2.00, −1.00, +0.60) |"), md);
        // Parameters against the baseline: 105 active against 100.
        assertTrue(md.contains("| dynamic, lr 5e-4 | 1,105 | 105 | +5 (+5.0%) | 30 s ± 0 s | 300 |"), md);

        assertTrue(md.contains("- **Not the same budget**: dynamic ends with +5.0% active parameters against lora"), md);
        assertEquals(List.of("dynamic"), r.offBudget());

        JsonNode j = r.toJson();
        assertEquals("dynamic", j.at("/not_same_budget/0").asText());
        assertEquals(4, j.at("/paired/methods/dynamic/wins").asInt());
        assertEquals(0.375, j.at("/paired/methods/dynamic/sign_test_p").asDouble(), 1e-12);
        assertEquals(-1.0, j.at("/paired/methods/dynamic/per_task/mrpc/s2").asDouble(), 1e-9);
        assertEquals(2e-3, j.at("/methods/lora/lr").asDouble());
        assertEquals(0.55, j.at("/methods/lora/lr_averages/5e-4/best/mean").asDouble(), 1e-12);

        GridResults none = lrGrid(null);
        assertFalse(GridTable.markdown(none).contains("Paired comparison"), "no baseline, no comparison");
    }

    @Test
    void methodsWithinAPointAskForFiveSeeds() {
        // lora 60.0 at its chosen rate; dynamic (0.51 + 0.70533) / 2 = 60.77: within a point.
        GridResults r = lrGrid("lora");
        assertEquals(List.of(List.of("lora", "dynamic")), r.closePairs());
        String md = GridTable.markdown(r);
        assertTrue(md.contains("- lora and dynamic are within one point on the average (60.0 and 60.8): run 5 seeds (the same command with --seeds 5 adds the missing seeds to this grid)"), md);

        // 2 points apart: no note.
        Map<String, List<Double>> lrs = GridSettings.single(Map.of("lora", 5e-4, "dynamic", 5e-4));
        GridSettings s3 = settings(List.of("mrpc"), List.of("lora", "dynamic"), 1, lrs, null);
        GridResults apart = new GridResults(s3, List.of(run("mrpc", "lora", 1, 5e-4, false, 0.70, 1, 1),
                run("mrpc", "dynamic", 1, 5e-4, false, 0.72, 1, 1)), "lora");
        assertTrue(apart.closePairs().isEmpty());
        assertTrue(apart.offBudget().isEmpty(), "the same active count");
        assertFalse(GridTable.markdown(apart).contains("Not the same budget"));
        // 0.5% apart counts as one budget, 1.5% does not.
        GridResults near = new GridResults(s3, List.of(run("mrpc", "lora", 1, 5e-4, false, 0.70, 1000, 1),
                run("mrpc", "dynamic", 1, 5e-4, false, 0.72, 1005, 1)), "lora");
        assertTrue(near.offBudget().isEmpty());
        GridResults far = new GridResults(s3, List.of(run("mrpc", "lora", 1, 5e-4, false, 0.70, 1000, 1),
                run("mrpc", "dynamic", 1, 5e-4, false, 0.72, 1015, 1)), "lora");
        assertEquals(List.of("dynamic"), far.offBudget());
        assertFalse(GridTable.markdown(apart).contains("Within one point"));
        // Close, but already 5 seeds: no note.
        GridSettings s5 = settings(List.of("mrpc"), List.of("lora", "dynamic"), 5, lrs, null);
        List<GridResults.Entry> e = new ArrayList<>();
        for (int seed = 1; seed <= 5; seed++) {
            e.add(run("mrpc", "lora", seed, 5e-4, false, 0.70, 1, 1));
            e.add(run("mrpc", "dynamic", seed, 5e-4, false, 0.705, 1, 1));
        }
        assertTrue(new GridResults(s5, e, "lora").closePairs().isEmpty());
    }
}
