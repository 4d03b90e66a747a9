package dev.dynalora.cli.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.training.RunFolder;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * What a run folder's metrics.jsonl says about the run: complete (it has a summary line, the trainer's last
 * record), diverged (a diverged record), or neither (never started, killed, or failed otherwise). The last
 * training step reached is kept for progress display.
 *
 * @param summary  the summary record, or null
 * @param diverged the diverged record, or null
 * @param lastStep the step of the last train record, 0 if none
 */
public record RunState(JsonNode summary, JsonNode diverged, long lastStep) {
    private static final ObjectMapper JSON = new ObjectMapper();

    public boolean complete() {
        return summary != null;
    }

    public static RunState read(Path runDir) {
        Path f = runDir.resolve(RunFolder.METRICS);
        if (!Files.isRegularFile(f)) {
            return new RunState(null, null, 0);
        }
        List<String> lines;
        try {
            lines = Files.readAllLines(f, StandardCharsets.UTF_8);
        } catch (IOException e) {
            // Unreadable counts as not complete: the run is done again, which is safe.
            return new RunState(null, null, 0);
        }
        JsonNode summary = null;
        JsonNode diverged = null;
        long lastStep = 0;
        for (String line : lines) {
            JsonNode n;
            try {
                n = JSON.readTree(line);
            } catch (IOException truncated) {
                continue; // a line cut short by a killed process
            }
            if (n == null || !n.isObject()) {
                continue;
            }
            switch (n.path("type").asText()) {
                case "summary" -> summary = n;
                case "diverged" -> diverged = n;
                case "train" -> lastStep = n.path("step").asLong(lastStep);
                default -> { }
            }
        }
        return new RunState(summary, diverged, lastStep);
    }
}
