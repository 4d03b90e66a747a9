package dev.dynalora.cli.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The statistics and cells of results.md, and what a run folder's metrics.jsonl says, on made-up runs. */
class GridResultsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static GridSettings settings(List<String> tasks, List<String> methods, int seeds) {
        return new GridSettings("/models/tiny", "/glue", tasks, methods, seeds, 3, Map.of("sst2", 1), Map.of(), 0, 128, 32, 8, null, 2,
                GridSettings.single(LR));
    }

    private static final Map<String, Double> LR = Map.of("lora", 5e-4, "full", 5e-5, "dynamic", 5e-4, "adalora", 5e-4, "head", 5e-4);

    /** A summary whose best and final metrics are the given score (for every metric of the task). */
    private static GridResults.Entry run(String task, String method, int seed, double best, double last, long params, double seconds) {
        ObjectNode s = JSON.createObjectNode();
        s.put("type", "summary");
        for (String pick : List.of("best", "final")) {
            double v = pick.equals("best") ? best : last;
            ObjectNode m = s.putObject(pick);
            for (String metric : List.of("mcc", "accuracy", "f1", "score")) {
                m.put(metric, v);
            }
        }
        s.put("trainable_params", params);
        s.put("active_trainable_params", params);
        s.put("train_time_s", seconds);
        return new GridResults.Entry(new GridRun(task, method, seed, LR.get(method)), "complete", s, null);
    }

    @Test
    void cellsAverageParamsAndMissingRuns() {
        GridSettings s = settings(List.of("cola", "mrpc"), List.of("lora", "full"), 3);
        List<GridResults.Entry> e = new ArrayList<>();
        e.add(run("cola", "lora", 1, 0.50, 0.40, 100, 60));
        e.add(run("cola", "lora", 2, 0.52, 0.42, 100, 60));
        e.add(run("cola", "lora", 3, 0.54, 0.44, 100, 60));
        e.add(run("mrpc", "lora", 1, 0.80, 0.80, 100, 1200));
        e.add(run("mrpc", "lora", 2, 0.84, 0.80, 100, 1200));
        e.add(new GridResults.Entry(new GridRun("mrpc", "lora", 3, 5e-4), "diverged", null, "diverged at step 7 (loss NaN)"));
        e.add(run("cola", "full", 1, 0.60, 0.60, 5000, 3600));
        for (GridRun r : List.of(new GridRun("cola", "full", 2, 5e-5), new GridRun("cola", "full", 3, 5e-5), new GridRun("mrpc", "full", 1, 5e-5),
                new GridRun("mrpc", "full", 2, 5e-5), new GridRun("mrpc", "full", 3, 5e-5))) {
            e.add(new GridResults.Entry(r, "failed", null, "out of memory"));
        }
        GridResults r = new GridResults(s, e);

        GridResults.Stat cola = r.stat("lora", "cola", GridResults.Pick.BEST, "mcc");
        assertEquals(0.52, cola.mean(), 1e-12);
        assertEquals(0.02, cola.std(), 1e-12, "sample standard deviation");
        assertEquals("52.0 ± 2.0", GridTable.cell(cola, 3, false));
        assertEquals("82.0 ± 2.8 (n=2)", GridTable.cell(r.stat("lora", "mrpc", GridResults.Pick.BEST, "accuracy"), 3, false));
        // Average: mean of the task means (0.52 + 0.82) / 2; no std, since seed 3 lacks MRPC.
        GridResults.Stat avg = r.average("lora", GridResults.Pick.BEST);
        assertEquals(0.67, avg.mean(), 1e-12);
        assertEquals("67.0", GridTable.cell(avg, 3, true));
        assertEquals("–", GridTable.cell(r.average("full", GridResults.Pick.BEST), 3, true), "no MRPC run of full at all");

        String md = GridTable.markdown(r);
        assertTrue(md.contains("| method | CoLA MCC | MRPC acc / F1 | average | trainable params | active params | train time |"), md);
        assertTrue(md.contains("| lora | 52.0 ± 2.0 | 82.0 ± 2.8 (n=2) / 82.0 ± 2.8 (n=2) | 67.0 | 100 | 100 | 43.0 min |"), md);
        assertTrue(md.contains("| full | 60.0 (n=1) | – / – | – | 5,000 | 5,000 | 1.0 h |"), md);
        assertTrue(md.contains("| lora | 42.0 ± 2.0 | 80.0 ± 0.0 (n=2) / 80.0 ± 0.0 (n=2) | 61.0 |"), "last-epoch table:\n" + md);
        assertTrue(md.contains("6 of 12 runs complete"), md);
        assertTrue(md.contains("- mrpc-lora-s3: diverged: diverged at step 7 (loss NaN)"), md);
        assertTrue(md.contains("epochs 3 (sst2=1)"), md);
    }

    @Test
    void averageStdIsOverPerSeedAverages() {
        GridSettings s = settings(List.of("cola", "mrpc"), List.of("lora"), 2);
        GridResults r = new GridResults(s, List.of(run("cola", "lora", 1, 0.4, 0, 1, 1), run("mrpc", "lora", 1, 0.8, 0, 1, 1),
                run("cola", "lora", 2, 0.6, 0, 1, 1), run("mrpc", "lora", 2, 0.8, 0, 1, 1)));
        // Per-seed averages 0.6 and 0.7: mean 0.65, sample std 0.0707.
        GridResults.Stat avg = r.average("lora", GridResults.Pick.BEST);
        assertEquals(0.65, avg.mean(), 1e-12);
        assertEquals(Math.sqrt(0.005), avg.std(), 1e-12);
        assertEquals(2, avg.n());
    }

    @Test
    void runStateAndFailureReasons(@TempDir Path dir) throws Exception {
        assertTrue(!RunState.read(dir.resolve("absent")).complete());
        Path run = Files.createDirectories(dir.resolve("rte-full-s1"));
        Files.writeString(run.resolve("metrics.jsonl"), """
                {"type":"train","step":10,"loss":0.7}
                {"type":"train","step":20,"loss":0.6}
                {"type":"diverged","step":23,"loss":"NaN","grad_norm":"NaN","lr":5.0E-5}
                {"type":"summ""");
        RunState st = RunState.read(run);
        assertTrue(!st.complete(), "a cut-off line is no summary");
        assertEquals(20, st.lastStep());
        Path log = dir.resolve("log");
        Files.writeString(log, "noise\n");
        assertEquals("diverged at step 23 (loss NaN)", GridRunner.reason(2, st, log));
        RunState plain = new RunState(null, null, 0);
        Files.writeString(log, "[main] WARN something\ndynalora: error: out of memory; use a smaller --batch\n");
        assertEquals("out of memory; use a smaller --batch", GridRunner.reason(2, plain, log));
        Files.writeString(log, "Exception in thread \"main\" java.lang.IllegalStateException: bug\n\tat x.y(Z.java:1)\n");
        assertEquals("exit code 1; last output: at x.y(Z.java:1)", GridRunner.reason(1, plain, log));
    }
}
