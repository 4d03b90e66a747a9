package dev.dynalora.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A CI-sized GLUE run: LoRA on a few hundred MRPC examples lowers the training loss and writes every file of
 * a run folder; eval and predict then work from that folder alone.
 */
@Tag("slow")
class TrainEndToEndTest {
    @TempDir
    static Path dir;
    static Path run;
    static CliRunner.Result train;

    @BeforeAll
    static void trainOnce() {
        run = dir.resolve("mrpc-lora");
        train = CliRunner.run("train", "--model", CliRunner.miniLm().toString(), "--task", "mrpc",
                "--data", CliRunner.shared().resolve("glue").toString(), "--method", "lora", "--out", run.toString(),
                "--limit", "160", "--eval-limit", "32", "--epochs", "2", "--batch", "16", "--lr", "1e-3",
                "--max-len", "48", "--log-every", "2", "--threads", "2", "--seed", "1");
    }

    @Test
    void trainingWritesRunFolderAndLowersLoss() throws Exception {
        assertEquals(0, train.exit(), train.err());
        for (String f : List.of("run_config.json", "metrics.jsonl", "trainable.safetensors")) {
            assertTrue(Files.isRegularFile(run.resolve(f)), f + " missing");
        }
        ObjectMapper om = new ObjectMapper();
        List<Double> losses = new ArrayList<>();
        int evals = 0;
        JsonNode summary = null;
        for (String line : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            JsonNode n = om.readTree(line);
            switch (n.get("type").asText()) {
                case "train" -> losses.add(n.get("loss").asDouble());
                case "eval" -> evals++;
                case "summary" -> summary = n;
                default -> { }
            }
        }
        assertEquals(2, evals);
        assertTrue(losses.size() >= 8, "too few train records: " + losses);
        double first = (losses.get(0) + losses.get(1)) / 2;
        double last = (losses.get(losses.size() - 1) + losses.get(losses.size() - 2)) / 2;
        assertTrue(last < first, "loss did not go down: " + losses);
        assertTrue(summary != null && summary.get("trainable_params").asLong() > 0);
        // LoRA r=8 on query and value of 6 layers: 6 * 2 * 8 * (384 + 384) adapter weights plus the head.
        long adapters = 6L * 2 * 8 * (384 + 384);
        long head = 384L * 384 + 384 + 384L * 2 + 2;
        assertEquals(adapters + head, summary.get("trainable_params").asLong());
    }

    @Test
    void evalReproducesTheLastDevMetrics() throws Exception {
        assertEquals(0, train.exit(), train.err());
        CliRunner.Result r = CliRunner.run("eval", "--run", run.toString(), "--threads", "2");
        assertEquals(0, r.exit(), r.err());
        JsonNode m = new ObjectMapper().readTree(r.out());
        assertEquals("mrpc", m.get("task").asText());
        assertEquals(408, m.get("examples").asInt());
        assertTrue(m.get("metrics").has("accuracy") && m.get("metrics").has("f1"));
    }

    @Test
    void predictWritesGlueSubmissionLayout() throws Exception {
        assertEquals(0, train.exit(), train.err());
        Path out = dir.resolve("pred.tsv");
        Path test = dir.resolve("test-small.tsv");
        List<String> lines = Files.readAllLines(CliRunner.shared().resolve("glue/MRPC/test.tsv"));
        Files.write(test, lines.subList(0, 21));
        CliRunner.Result r = CliRunner.run("predict", "--run", run.toString(), "--input", test.toString(), "--output", out.toString());
        assertEquals(0, r.exit(), r.err());
        List<String> pred = Files.readAllLines(out);
        assertEquals("index\tprediction", pred.get(0));
        assertEquals(21, pred.size());
        for (String p : pred.subList(1, pred.size())) {
            assertTrue(p.matches("\\d+\t[01]"), p);
        }
        // Never clobber: a second predict to the same file is refused.
        CliRunner.Result again = CliRunner.run("predict", "--run", run.toString(), "--input", test.toString(), "--output", out.toString());
        assertEquals(2, again.exit());
    }

    @Test
    void existingRunFolderIsNotOverwritten() {
        assertEquals(0, train.exit(), train.err());
        CliRunner.Result r = CliRunner.run("train", "--model", CliRunner.miniLm().toString(), "--task", "mrpc",
                "--data", CliRunner.shared().resolve("glue").toString(), "--out", run.toString(), "--limit", "16");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("holds a finished run"), r.err());
    }
}
