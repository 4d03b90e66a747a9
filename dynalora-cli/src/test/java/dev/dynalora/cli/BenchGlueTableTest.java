package dev.dynalora.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * bench glue --table-only on a made-up grid folder (no training): MRPC and RTE x {lora at two learning rates,
 * dynamic at one} x 3 seeds, run folders holding only a summary line. The command finds the runs under their
 * folder names, reports lora at the rate with the better average, and prints the paired comparison.
 */
class BenchGlueTableTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    static Path model;

    @BeforeAll
    static void model() {
        model = TinyModel.write(dir.resolve("tiny-bert"));
    }

    static CliRunner.Result table(Path out, String... extra) {
        List<String> args = new ArrayList<>(List.of("bench", "glue", "--model", model.toString(),
                "--data", CliRunner.shared().resolve("glue").toString(), "--out", out.toString(), "--tasks", "mrpc,rte",
                "--methods", "lora,dynamic", "--seeds", "3", "--epochs", "1", "--threads", "1",
                "--lr-for", "lora=5e-4,2e-3", "--table-only"));
        args.addAll(List.of(extra));
        return CliRunner.run(args.toArray(new String[0]));
    }

    /** A run folder whose metrics.jsonl is a summary with these scores (every metric of the task equal to it). */
    static void run(Path grid, String name, double score, long active) throws Exception {
        Path d = Files.createDirectories(grid.resolve(name));
        String metrics = String.format(Locale.ROOT, "{\"accuracy\":%s,\"f1\":%s,\"score\":%s}", score, score, score);
        Files.writeString(d.resolve("metrics.jsonl"), "{\"type\":\"train\",\"step\":10,\"loss\":0.6}\n"
                + "{\"type\":\"summary\",\"trainable_params\":" + (active + 1000) + ",\"active_trainable_params\":" + active
                + ",\"train_time_s\":12.0,\"steps\":40,\"tokens_per_s\":100,\"best\":" + metrics + ",\"final\":" + metrics + "}\n");
    }

    /** The grid folder: grid_config.json as bench glue writes it (from a first --table-only on an empty folder's config). */
    static Path grid(String name) throws Exception {
        Path grid = dir.resolve(name);
        // --table-only refuses a folder without a grid; a run of the grid with a wrong flag writes nothing, so the
        // configuration is written the way bench glue writes it: by the command's own settings.
        BenchGlueCommand c = new BenchGlueCommand();
        picocli.CommandLine cl = new picocli.CommandLine(c);
        cl.parseArgs("--model", model.toString(), "--data", CliRunner.shared().resolve("glue").toString(), "--out",
                grid.toString(), "--tasks", "mrpc,rte", "--methods", "lora,dynamic", "--seeds", "3", "--epochs", "1",
                "--threads", "1", "--lr-for", "lora=5e-4,2e-3");
        dev.dynalora.cli.bench.GridFolder.prepare(grid, c.settings());
        return grid;
    }

    @Test
    void tableOnlyReportsChosenRatesAndThePairedComparison() throws Exception {
        Path grid = grid("grid");
        double[] loraLow = {0.70, 0.71, 0.72};   // lr 5e-4, mrpc; rte 0.50: average 0.605
        double[] loraHigh = {0.74, 0.75, 0.76};  // lr 2e-3, mrpc; rte 0.52: average 0.635 (chosen)
        double[] dynMrpc = {0.75, 0.75, 0.77};   // against 0.74, 0.75, 0.76: win, tie, win
        double[] dynRte = {0.53, 0.53, 0.53};    // against 0.52: three wins
        for (int s = 1; s <= 3; s++) {
            run(grid, "mrpc-lora-lr5e-4-s" + s, loraLow[s - 1], 1000);
            run(grid, "rte-lora-lr5e-4-s" + s, 0.50, 1000);
            run(grid, "mrpc-lora-lr2e-3-s" + s, loraHigh[s - 1], 1000);
            run(grid, "rte-lora-lr2e-3-s" + s, 0.52, 1000);
            run(grid, "mrpc-dynamic-s" + s, dynMrpc[s - 1], 1050);
            run(grid, "rte-dynamic-s" + s, dynRte[s - 1], 1050);
        }
        CliRunner.Result r = table(grid);
        assertEquals(0, r.exit(), r.err());
        String md = r.out();
        assertEquals(md, Files.readString(grid.resolve("results.md")));
        assertTrue(md.contains("18 of 18 runs complete"), md);
        assertTrue(md.contains("| lora, lr 2e-3 | 75.0 ± 1.0 / 75.0 ± 1.0 | 52.0 ± 0.0 | 63.5 ± 0.5 |"), md);
        assertTrue(md.contains("| lora | 5e-4 | 60.5 ± 0.5 |"), md);
        assertTrue(md.contains("| lora | **2e-3 (chosen)** | 63.5 ± 0.5 |"), md);
        // 6 pairs: 5 wins, 1 tie, no loss; sign test on 5 of 5: 2 / 32.
        assertTrue(md.contains("| dynamic | 6 | 5 / 1 / 0 |"), md);
        assertTrue(md.contains("| 0.063 |"), md);
        assertTrue(md.contains("| dynamic | +0.67 (+1.00, 0.00, +1.00) | +1.00 (+1.00, +1.00, +1.00) |"), md);
        assertTrue(md.contains("- lora and dynamic are within one point on the average (63.5 and 64.3): run 5 seeds"), md);
        assertTrue(md.contains("| dynamic, lr 5e-4 | 2,050 | 1,050 | +50 (+5.0%) | 12 s ± 0 s | 300 |"), md);

        JsonNode j = JSON.readTree(grid.resolve("results.json").toFile());
        assertEquals(0.002, j.at("/methods/lora/lr").asDouble());
        assertEquals(5, j.at("/paired/methods/dynamic/wins").asInt());
        assertEquals(2.0 / 32, j.at("/paired/methods/dynamic/sign_test_p").asDouble(), 1e-12);
        assertEquals("lora", j.at("/paired/baseline").asText());

        // Another baseline, and a method that is not in the grid.
        CliRunner.Result other = table(grid, "--baseline", "dynamic");
        assertEquals(0, other.exit(), other.err());
        assertTrue(other.out().contains("## Paired comparison with dynamic"), other.out());
        assertTrue(other.out().contains("| lora | 6 | 0 / 1 / 5 |"), other.out());
        CliRunner.Result bad = table(grid, "--baseline", "adalora");
        assertEquals(2, bad.exit());
        assertTrue(bad.err().contains("--baseline adalora is not in --methods"), bad.err());
    }

    @Test
    void rateListMistakesAreOneLine() throws Exception {
        Path grid = grid("grid-mistakes");
        for (String[] wrong : List.of(new String[]{"--lr-for", "lora=5e-4,x"}, new String[]{"--lr-for", "lora=5e-4,5e-4"},
                new String[]{"--lr-for", "lora=-1"}, new String[]{"--targets", " "})) {
            List<String> args = new ArrayList<>(List.of(wrong));
            CliRunner.Result r = table(grid, args.toArray(new String[0]));
            assertEquals(2, r.exit(), String.join(" ", wrong));
            assertTrue(r.err().startsWith("dynalora: error: ") && r.err().strip().lines().count() == 1, r.err());
        }
        // The grid was made without --targets: a table with them is a different grid.
        CliRunner.Result t = table(grid, "--targets", "all-linear");
        assertEquals(2, t.exit());
        assertTrue(t.err().contains("targets: null there, \"all-linear\" now"), t.err());
        assertFalse(Files.exists(grid.resolve("results.md")));
    }
}
