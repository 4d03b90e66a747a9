package dev.dynalora.spark.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.cli.Main;
import dev.dynalora.spark.Fixtures;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * dynalora spark glue: a grid of 4 small runs as Spark tasks in local[2] gives the run folders and the table
 * of bench glue run one after the other, and running it again redoes nothing.
 */
@Tag("slow") // 8 training JVMs: about 35 s on 2 cores
class SparkGlueTest {
    static final List<String> RUNS = List.of("sst2-head-s1", "sst2-lora-s1", "sst2-head-s2", "sst2-lora-s2");

    static String[] args(Path out, String... first) {
        List<String> a = new ArrayList<>(List.of(first));
        a.addAll(List.of("--model", Fixtures.tinyModel().toString(), "--data", Fixtures.glue().toString(),
                "--out", out.toString(), "--tasks", "sst2", "--methods", "head,lora", "--seeds", "2", "--epochs", "1",
                "--limit-for", "sst2=32", "--eval-limit", "16", "--max-len", "32", "--batch", "8", "--threads", "1"));
        return a.toArray(String[]::new);
    }

    static JsonNode summary(Path run) throws Exception {
        JsonNode s = null;
        for (String line : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            JsonNode n = new ObjectMapper().readTree(line);
            if (n.get("type").asText().equals("summary")) {
                s = n;
            }
        }
        return s;
    }

    @Test
    void gridRunsAsSparkTasksLikeBenchGlue() throws Exception {
        Path sequential = Fixtures.dir().resolve("grid-sequential");
        Path spark = Fixtures.dir().resolve("grid-spark");
        Fixtures.Result seq = Fixtures.run(Main.commandLine(), args(sequential, "bench", "glue"));
        assertEquals(0, seq.exit(), seq.err());
        Fixtures.Result viaSpark = Fixtures.run(SparkMain.commandLine(), args(spark, "spark", "glue", "--master", "local[2]"));
        assertEquals(0, viaSpark.exit(), viaSpark.err());
        for (String run : RUNS) {
            JsonNode a = summary(sequential.resolve(run));
            JsonNode b = summary(spark.resolve(run));
            assertNotNull(b, run + " has no summary");
            // Training is deterministic for a seed and thread count: the same metrics, whoever ran it.
            assertEquals(a.get("final"), b.get("final"), run);
            assertEquals(a.get("best"), b.get("best"), run);
            assertEquals(a.get("steps"), b.get("steps"), run);
            assertTrue(Files.isRegularFile(spark.resolve("logs").resolve(run + ".log")), run + " log");
        }
        JsonNode tableA = new ObjectMapper().readTree(sequential.resolve("results.json").toFile());
        JsonNode tableB = new ObjectMapper().readTree(spark.resolve("results.json").toFile());
        assertNotNull(tableA.get("table"));
        assertEquals(tableA.get("table"), tableB.get("table"), "the table's means and deviations");
        assertEquals(tableA.get("config"), tableB.get("config"));
        assertTrue(Files.readString(spark.resolve("results.md")).contains("sst2"));

        // Complete runs are skipped: nothing is trained again.
        FileTime before = Files.getLastModifiedTime(spark.resolve(RUNS.get(0)).resolve("metrics.jsonl"));
        Fixtures.Result again = Fixtures.run(SparkMain.commandLine(), args(spark, "spark", "glue", "--master", "local[2]"));
        assertEquals(0, again.exit(), again.err());
        assertEquals(before, Files.getLastModifiedTime(spark.resolve(RUNS.get(0)).resolve("metrics.jsonl")));
    }
}
