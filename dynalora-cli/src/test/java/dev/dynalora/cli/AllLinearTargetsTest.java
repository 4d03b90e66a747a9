package dev.dynalora.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * train --targets all-linear on a BERT encoder (a tiny random one, 8 examples): it adapts every linear module of
 * the encoder (query, key, value and the three dense layers of each block), as PEFT's shortcut does, and the run
 * folder reloads for eval.
 */
class AllLinearTargetsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    static Path model;

    @BeforeAll
    static void model() {
        model = TinyModel.write(dir.resolve("tiny-bert"));
    }

    private static JsonNode train(String name, String targets) throws Exception {
        Path out = dir.resolve(name);
        CliRunner.Result r = CliRunner.run("train", "--model", model.toString(), "--task", "mrpc", "--data",
                CliRunner.shared().resolve("glue").toString(), "--method", "lora", "--targets", targets, "--limit", "8",
                "--eval-limit", "8", "--epochs", "1", "--batch", "8", "--max-len", "16", "--threads", "1", "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        JsonNode summary = null;
        for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            JsonNode n = JSON.readTree(line);
            if (n.path("type").asText().equals("summary")) {
                summary = n;
            }
        }
        return summary;
    }

    @Test
    void allLinearAdaptsEveryEncoderLinearModule() throws Exception {
        long all = train("all", "all-linear").get("trainable_params").asLong();
        long named = train("named", "query,key,value,dense").get("trainable_params").asLong();
        long qv = train("qv", "query,value").get("trainable_params").asLong();
        assertEquals(named, all, "all-linear is query,key,value,dense on BERT");
        // hidden 32, intermediate 64, rank 8, 2 layers: 4 square modules of 8 * 64 and two of 8 * 96 per layer,
        // against 2 * 8 * 64 for query and value.
        assertEquals(2 * (4 * 8 * 64 + 2 * 8 * 96) - 2 * (2 * 8 * 64), all - qv);
        JsonNode cfg = JSON.readTree(dir.resolve("all").resolve("run_config.json").toFile());
        assertEquals("all-linear", cfg.get("targets").asText());
        CliRunner.Result eval = CliRunner.run("eval", "--run", dir.resolve("all").toString(), "--threads", "1");
        assertEquals(0, eval.exit(), eval.err());
        assertTrue(eval.out().contains("accuracy"), eval.out());
    }
}
