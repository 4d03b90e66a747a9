package dev.dynalora.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.cli.bench.FlopModel;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.models.bert.PretrainedBert;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * bench speed end to end on a tiny random BERT, against a fake reference (a shell script that prints noise
 * around a result line like torch_bert_lora.py's and records its arguments): our three measurements run in child
 * JVMs, the reference's figures come through the parser, and the derived figures are consistent.
 */
class BenchSpeedTest {
    /** Answers like the real reference: infer 100 ms / 160 tokens/s, train 400 ms / 40 tokens/s. */
    private static final String FAKE_REFERENCE = """
            echo "$@" >> "$(dirname "$0")/args.txt"
            echo "UserWarning: a library talks first"
            mode=train
            prev=
            for a in "$@"; do
              if [ "$prev" = "--mode" ]; then mode=$a; fi
              prev=$a
            done
            echo "{'not': 'json'}"
            if [ "$mode" = infer ]; then
              echo '{"engine": "pytorch-eager", "mode": "infer", "torch": "9.9.9", "blas": "openblas", "threads": 1, "batch": 2, "seq": 8, "ms_per_step": 100.0, "tokens_per_s": 160.0, "peak_rss_mb": 500.0, "final_loss": 0.7}'
            else
              echo '{"engine": "pytorch-eager", "mode": "train", "torch": "9.9.9", "blas": "openblas", "threads": 1, "batch": 2, "seq": 8, "ms_per_step": 400.0, "tokens_per_s": 40.0, "peak_rss_mb": 700.0, "final_loss": 0.7}'
            fi
            echo "bye"
            """;

    @TempDir
    static Path models;
    static Path model;

    @BeforeAll
    static void tinyModel() {
        model = TinyModel.write(models.resolve("tiny-bert"));
    }

    private static CliRunner.Result speed(Path reference, String... extra) {
        List<String> args = new java.util.ArrayList<>(List.of("bench", "speed", "--model", model.toString(),
                "--reference", reference.toString(), "--python", "/bin/sh", "--batch", "2", "--seq", "8", "--steps", "1",
                "--warmup", "0", "--rounds", "1", "--threads", "1", "--rank", "4"));
        args.addAll(List.of(extra));
        return CliRunner.run(args.toArray(new String[0]));
    }

    @Test
    void comparesOurChildrenWithTheReference(@TempDir Path dir) throws Exception {
        Path ref = dir.resolve("fake_reference.sh");
        Files.writeString(ref, FAKE_REFERENCE);
        CliRunner.Result r = speed(ref, "--json");
        assertEquals(0, r.exit(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());

        // The reference's figures, parsed out of its noise.
        assertEquals(100.0, j.at("/forward/pytorch/ms_per_step").asDouble());
        assertEquals(40.0, j.at("/lora_step/pytorch/tokens_per_s").asDouble());
        assertEquals(700.0, j.at("/lora_step/pytorch/peak_rss_mb").asDouble());
        assertEquals("torch 9.9.9, openblas", j.get("reference").asText());
        // It was asked for the same shape, threads, rank and targets as ours.
        List<String> calls = Files.readAllLines(dir.resolve("args.txt"));
        assertEquals(2, calls.size());
        assertTrue(calls.get(0).endsWith("--batch 2 --seq 8 --steps 1 --warmup 0 --threads 1 --mode infer"), calls.get(0));
        assertTrue(calls.get(1).endsWith("--threads 1 --rank 4 --targets query,value --mode train"), calls.get(1));

        // Ours ran for real, each in its own JVM (its own peak RSS).
        for (String step : List.of("forward", "lora_step", "dynamic_step")) {
            assertTrue(j.at("/" + step + "/dynalora/ms_per_step").asDouble() > 0, step);
            assertTrue(j.at("/" + step + "/dynalora/peak_rss_mb").asDouble() > 0, step);
        }
        // Our bench forward / bench step also report the process CPU time per step.
        for (int run : new int[] {0, 2, 4}) {
            assertTrue(j.get("runs").get(run).at("/result/cpu_ms_per_step").asDouble() > 0, "run " + run);
        }
        List<String> engines = new java.util.ArrayList<>();
        j.get("runs").forEach(run -> engines.add(run.at("/result/engine").asText() + " " + run.at("/result/mode").asText()));
        assertEquals(List.of("dynalora infer", "pytorch-eager infer", "dynalora train", "pytorch-eager train", "dynalora train"), engines,
                "the five measurements alternate in this order");
        assertEquals("dynamic", j.get("runs").get(4).at("/result/method").asText());
        assertFalse(j.get("runs").get(2).at("/result/dropout").asBoolean(), "no dropout, as in the reference");

        // Derived figures.
        double oursTps = j.at("/forward/dynalora/tokens_per_s").asDouble();
        assertEquals(Math.round(oursTps / 160.0 * 1000) / 1000.0, j.at("/forward/ratio_tokens_per_s").asDouble(), 1e-9);
        // The overhead is the in-process paired figure of the Dynamic LoRA run (alternated with LoRA steps).
        JsonNode dynRun = j.get("runs").get(4).get("result");
        assertEquals("lora", dynRun.get("paired_method").asText());
        assertTrue(dynRun.get("paired_ms_per_step").asDouble() > 0);
        assertEquals(dynRun.get("overhead_pct").asDouble(), j.at("/dynamic_step/overhead_vs_lora_pct").asDouble(), 0.005);
        // Dynamic LoRA's own work is timed inside its steps: more than nothing (it has gates), less than the step.
        double extraMs = dynRun.get("extra_work_ms_per_step").asDouble();
        double extraPct = dynRun.get("extra_work_pct").asDouble();
        assertTrue(extraMs > 0 && extraPct > 0 && extraPct < 100, extraMs + " ms, " + extraPct + "%");
        assertEquals(extraPct, j.at("/dynamic_step/extra_work_pct").asDouble(), 0.0005);
        ModelConfig c = PretrainedBert.bertConfig(model);
        long stepFlops = FlopModel.adapterStep(c, 2, 8, LoraConfig.of(4, 16, "query,value", false, 0f, 0), 2);
        assertEquals(FlopModel.inference(c, 2, 8), j.at("/flops_per_step/forward").asLong());
        assertEquals(stepFlops, j.at("/flops_per_step/lora_step").asLong());
        // MFU of the reference's train step: FLOPs / 0.4 s / (1 thread x 105 GFLOP/s).
        assertEquals(stepFlops / 0.4 / 105e9, j.at("/lora_step/pytorch/mfu").asDouble(), 1e-4);
    }

    @Test
    void failingReferenceIsOneLineAndExitCode2(@TempDir Path dir) throws Exception {
        Path ref = dir.resolve("broken.sh");
        Files.writeString(ref, "echo 'Traceback (most recent call last):' >&2\necho 'SystemExit: no BLAS here' >&2\nexit 1\n");
        CliRunner.Result r = speed(ref);
        assertEquals(2, r.exit(), r.out() + r.err());
        assertEquals("dynalora: error: pytorch forward failed (exit code 1): SystemExit: no BLAS here", r.err().strip());
        assertEquals("", r.out());
    }
}
