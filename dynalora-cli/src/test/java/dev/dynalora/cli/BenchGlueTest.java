package dev.dynalora.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * bench glue end to end on a tiny random BERT: MRPC x {head, lora} x 2 seeds on 16 training examples. The runs
 * are ordinary train run folders, the tables hold mean ± std over the seeds' summaries, and a second invocation
 * redoes exactly the runs that have no summary.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Tag("slow")
class BenchGlueTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> RUNS = List.of("mrpc-head-s1", "mrpc-lora-s1", "mrpc-head-s2", "mrpc-lora-s2");

    @TempDir
    static Path dir;
    static Path model;
    static Path grid;
    static CliRunner.Result first;

    static CliRunner.Result grid(Path out, String... extra) {
        List<String> args = new ArrayList<>(List.of("bench", "glue", "--model", model.toString(),
                "--data", CliRunner.shared().resolve("glue").toString(), "--out", out.toString(), "--tasks", "mrpc",
                "--methods", "head,lora", "--seeds", "2", "--epochs", "1", "--limit-for", "mrpc=16", "--eval-limit", "16",
                "--max-len", "32", "--batch", "8", "--threads", "1"));
        args.addAll(List.of(extra));
        return CliRunner.run(args.toArray(new String[0]));
    }

    @BeforeAll
    static void runGridOnce() {
        model = TinyModel.write(dir.resolve("tiny-bert"));
        grid = dir.resolve("grid");
        first = grid(grid);
    }

    private static JsonNode summary(String run) throws Exception {
        JsonNode s = null;
        for (String line : Files.readAllLines(grid.resolve(run).resolve("metrics.jsonl"))) {
            JsonNode n = JSON.readTree(line);
            if (n.get("type").asText().equals("summary")) {
                s = n;
            }
        }
        return s;
    }

    /** mean ± sample std, x100, as the table prints it. */
    private static String cell(double a, double b) {
        double mean = (a + b) / 2;
        double std = Math.sqrt(((a - mean) * (a - mean) + (b - mean) * (b - mean)) / 1);
        return String.format(Locale.ROOT, "%.1f ± %.1f", mean * 100, std * 100);
    }

    @Test
    @Order(1)
    void gridWritesRunFoldersAndTablesOfTheirSummaries() throws Exception {
        assertEquals(0, first.exit(), first.err());
        for (String run : RUNS) {
            assertTrue(summary(run) != null, run + " has no summary");
            JsonNode cfg = JSON.readTree(grid.resolve(run).resolve("run_config.json").toFile());
            assertEquals(16, cfg.get("train_limit").asInt(), "per-task --limit-for reaches the run");
            assertEquals(1, cfg.get("epochs").asInt());
            assertEquals(5e-4, cfg.get("lr").asDouble(), 1e-9, "train's default learning rate");
            assertEquals(run.endsWith("s1") ? 1 : 2, cfg.get("seed").asInt());
        }
        String md = Files.readString(grid.resolve("results.md"));
        assertEquals(md, first.out(), "the table is printed too");
        assertTrue(md.contains("| method | MRPC acc / F1 | average | trainable params | active params | train time |"), md);
        for (String method : List.of("head", "lora")) {
            JsonNode s1 = summary("mrpc-" + method + "-s1");
            JsonNode s2 = summary("mrpc-" + method + "-s2");
            String row = "| " + method + " | " + cell(s1.at("/best/accuracy").asDouble(), s2.at("/best/accuracy").asDouble())
                    + " / " + cell(s1.at("/best/f1").asDouble(), s2.at("/best/f1").asDouble())
                    + " | " + cell(s1.at("/best/score").asDouble(), s2.at("/best/score").asDouble())
                    + " | " + String.format(Locale.ROOT, "%,d", s1.get("trainable_params").asLong()) + " |";
            assertTrue(md.contains(row), "missing row " + row + " in\n" + md);
            String last = "| " + method + " | " + cell(s1.at("/final/accuracy").asDouble(), s2.at("/final/accuracy").asDouble());
            assertTrue(md.contains(last), "missing last-epoch row " + last + " in\n" + md);
        }

        JsonNode results = JSON.readTree(grid.resolve("results.json").toFile());
        assertEquals(4, results.get("runs").size());
        for (JsonNode r : results.get("runs")) {
            String run = r.get("run_dir").asText();
            assertEquals(r.get("task").asText() + "-" + r.get("method").asText() + "-s" + r.get("seed").asInt(), run);
            assertEquals("complete", r.get("status").asText());
            assertEquals(summary(run).get("best"), r.get("best"));
            assertEquals(summary(run).get("final"), r.get("final"));
            for (String f : List.of("trainable_params", "train_time_s", "tokens_per_s")) {
                assertEquals(summary(run).get(f), r.get(f), f);
            }
        }
        JsonNode cfg = JSON.readTree(grid.resolve("grid_config.json").toFile());
        assertEquals(JSON.readTree("{\"head\":5.0E-4,\"lora\":5.0E-4}"), cfg.get("lr"));
        assertEquals(JSON.readTree("{\"mrpc\":16}"), cfg.get("limit_for"));
        assertTrue(Files.isRegularFile(grid.resolve("logs/mrpc-lora-s2.log")));
    }

    @Test
    @Order(2)
    void secondInvocationRedoesOnlyRunsWithoutSummary() throws Exception {
        assertEquals(0, first.exit(), first.err());
        Map<String, FileTime> before = new LinkedHashMap<>();
        for (String run : RUNS) {
            before.put(run, Files.getLastModifiedTime(grid.resolve(run).resolve("metrics.jsonl")));
        }
        // An interrupted run: everything but the summary line.
        Path cut = grid.resolve("mrpc-lora-s2").resolve("metrics.jsonl");
        List<String> lines = new ArrayList<>(Files.readAllLines(cut));
        assertTrue(lines.remove(lines.size() - 1).contains("\"type\":\"summary\""));
        Files.write(cut, lines);
        FileTime cutTime = Files.getLastModifiedTime(cut);
        Thread.sleep(20); // a rewritten file must get a later time stamp than the cut one

        CliRunner.Result again = grid(grid);
        assertEquals(0, again.exit(), again.err());
        for (String run : List.of("mrpc-head-s1", "mrpc-lora-s1", "mrpc-head-s2")) {
            assertEquals(before.get(run), Files.getLastModifiedTime(grid.resolve(run).resolve("metrics.jsonl")), run + " was run again");
        }
        assertNotEquals(cutTime, Files.getLastModifiedTime(cut), "the incomplete run was not redone");
        assertTrue(summary("mrpc-lora-s2") != null);
        // It had a checkpoint, so it was continued from there rather than trained again from the start.
        assertTrue(Files.readString(grid.resolve("logs/mrpc-lora-s2.log")).contains("resumed at step"),
                Files.readString(grid.resolve("logs/mrpc-lora-s2.log")));
        assertTrue(again.out().contains("4 of 4 runs complete"), again.out());
    }

    @Test
    @Order(3)
    void resumingWithOtherSettingsIsRefused() throws Exception {
        String config = Files.readString(grid.resolve("grid_config.json"));
        CliRunner.Result r = grid(grid, "--epochs-for", "mrpc=2");
        assertEquals(2, r.exit(), r.out() + r.err());
        String err = r.err().strip();
        assertFalse(err.contains("\n"), "one line: " + err);
        assertTrue(err.contains("other settings (epochs_for: {} there, {\"mrpc\":2} now)"), err);
        assertEquals(config, Files.readString(grid.resolve("grid_config.json")));
    }

    @Test
    @Order(4)
    void userMistakesWriteNothing() throws Exception {
        Path out = dir.resolve("never");
        for (String[] bad : List.of(new String[]{"--lr-for", "full=1e-4"}, new String[]{"--epochs-for", "rte=1"},
                new String[]{"--tasks", "mrpc,nope"}, new String[]{"--methods", "lora,lora"})) {
            CliRunner.Result r = grid(out, bad);
            assertEquals(2, r.exit(), String.join(" ", bad) + ": " + r.err());
            assertTrue(r.err().startsWith("dynalora: error: ") && r.err().strip().lines().count() == 1, r.err());
        }
        assertFalse(Files.exists(out));
        Path foreign = dir.resolve("foreign");
        Files.createDirectories(foreign);
        Files.writeString(foreign.resolve("notes.txt"), "mine");
        CliRunner.Result r = grid(foreign);
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("has no grid_config.json"), r.err());
    }

    @Test
    @Order(9)
    void tableOnlyTabulatesWithoutRunning() throws Exception {
        Path cut = grid.resolve("mrpc-head-s2").resolve("metrics.jsonl");
        List<String> lines = new ArrayList<>(Files.readAllLines(cut));
        assertTrue(lines.remove(lines.size() - 1).contains("\"type\":\"summary\""));
        Files.write(cut, lines);
        FileTime cutTime = Files.getLastModifiedTime(cut);
        Thread.sleep(20);

        CliRunner.Result t = grid(grid, "--table-only");
        assertEquals(0, t.exit(), t.err());
        assertEquals(cutTime, Files.getLastModifiedTime(cut), "--table-only ran the incomplete run");
        assertTrue(t.out().contains("3 of 4 runs complete"), t.out());
        assertTrue(t.out().contains("## Runs not done yet (1)\n\nmrpc-head-s2"), t.out());
        assertFalse(t.out().contains("failed"), t.out());
        assertEquals(t.out(), Files.readString(grid.resolve("results.md")));
        JsonNode j = JSON.readTree(grid.resolve("results.json").toFile());
        assertTrue(j.toString().contains("\"pending\""), j.toString());

        CliRunner.Result none = grid(dir.resolve("no-grid-here"), "--table-only");
        assertEquals(2, none.exit());
        assertTrue(none.err().contains("--table-only needs one"), none.err());
    }
}
