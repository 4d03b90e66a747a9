package dev.dynalora.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * bench speed on a decoder (stories260K) against a fake reference: our bench step and bench generate run for
 * real in child JVMs, the reference is asked for the same shapes, and the ratios are ours over its figures.
 */
class DecoderSpeedTest {
    /** Prints noise and then one JSON line, as torch_llama_lora.py does; records how it was called. */
    static final String FAKE_REFERENCE = """
            echo "$@" >> "$(dirname "$0")/args.txt"
            echo "loading..." >&2
            case "$*" in
              *"--mode step"*) echo '{"mode": "step", "tokens_per_s": 50.0, "ms_per_step": 10.0, "peak_rss_mb": 900.0}' ;;
              *"--mode generate"*) echo '{"mode": "generate", "tokens_per_s": 20.0, "peak_rss_mb": 300.0}' ;;
            esac
            """;

    @Test
    void comparesOurStepAndGenerationWithTheReference(@TempDir Path dir) throws Exception {
        Path ref = dir.resolve("fake_reference.sh");
        Files.writeString(ref, FAKE_REFERENCE);
        CliRunner.Result r = CliRunner.run("bench", "speed", "--model", CliRunner.shared().resolve("models/stories260K").toString(),
                "--reference", ref.toString(), "--python", "/bin/sh", "--batch", "2", "--seq", "16", "--steps", "1",
                "--warmup", "0", "--rounds", "1", "--threads", "1", "--rank", "4", "--prompt-len", "4", "--new-tokens", "6",
                "--json");
        assertEquals(0, r.exit(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        List<String> calls = Files.readAllLines(dir.resolve("args.txt"));
        assertEquals(2, calls.size());
        assertTrue(calls.get(0).contains("--mode step --batch 2 --seq 16 --steps 1 --warmup 0 --threads 1 --rank 4 --targets q_proj,v_proj"),
                calls.get(0));
        assertTrue(calls.get(1).contains("--mode generate --prompt-len 4 --new-tokens 6 --threads 1"), calls.get(1));

        JsonNode step = j.get("lora_step");
        assertTrue(step.get("dynalora_tokens_per_s").asDouble() > 0);
        assertEquals(step.get("dynalora_tokens_per_s").asDouble() / 50.0, step.get("ratio").asDouble(), 1e-9);
        assertEquals(900.0, step.get("pytorch_peak_rss_mb").asDouble());
        JsonNode gen = j.get("generate");
        assertEquals(gen.get("dynalora_tokens_per_s_incl_prefill").asDouble() / 20.0, gen.get("ratio").asDouble(), 1e-9);
        assertTrue(gen.get("dynalora_decode_tokens_per_s").asDouble() > 0);
        assertEquals(4, j.get("raw").size(), "four measurements per round");
        assertEquals("dynalora lora_step", j.get("raw").get(0).get("case").asText());
        assertEquals("pytorch generate", j.get("raw").get(3).get("case").asText());
    }
}
