package dev.dynalora.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.training.RunFolder;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static dev.dynalora.cli.BadInputTest.assertUserError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** train --task lm and --task sft on a real decoder (stories260K), eval of the runs, and the user's mistakes. */
class CausalLmTrainTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    static Path model;
    static Path shakespeare;
    static Path sst2;
    static Path lmRun;
    static CliRunner.Result lmTrain;

    @BeforeAll
    static void train() {
        model = CliRunner.shared().resolve("models/stories260K");
        shakespeare = CliRunner.shared().resolve("data/tinyshakespeare");
        sst2 = CliRunner.shared().resolve("data/sst2-sft");
        lmRun = dir.resolve("lm");
        lmTrain = CliRunner.run(args("lm", shakespeare, lmRun, "--epochs", "2", "--lr", "5e-3").toArray(new String[0]));
    }

    static List<String> args(String task, Path data, Path out, String... more) {
        List<String> a = new ArrayList<>(List.of("train", "--model", model.toString(), "--task", task, "--data",
                data.toString(), "--out", out.toString(), "--limit", "48", "--eval-limit", "8", "--max-len", "64",
                "--batch", "8", "--threads", "2", "--log-every", "2"));
        a.addAll(List.of(more));
        return a;
    }

    static List<JsonNode> records(Path run, String type) throws Exception {
        List<JsonNode> out = new ArrayList<>();
        for (String line : Files.readAllLines(run.resolve(RunFolder.METRICS))) {
            JsonNode n = JSON.readTree(line);
            if (type.equals(n.path("type").asText())) {
                out.add(n);
            }
        }
        return out;
    }

    @Test
    void languageModellingLowersTheValidationLoss() throws Exception {
        assertEquals(0, lmTrain.exit(), lmTrain.err());
        JsonNode summary = JSON.readTree(lmTrain.out());
        assertEquals("lm", summary.get("task").asText());
        assertEquals(12, summary.get("steps").asLong(), "48 windows / batch 8 x 2 epochs");
        List<JsonNode> evals = records(lmRun, "eval");
        assertEquals(2, evals.size());
        double first = evals.get(0).get("metrics").get("loss").asDouble();
        double last = evals.get(1).get("metrics").get("loss").asDouble();
        assertTrue(last < first, "validation loss " + first + " -> " + last);
        assertEquals(Math.exp(last), evals.get(1).get("metrics").get("perplexity").asDouble(), 1e-9 * Math.exp(last));
        assertEquals("valid", evals.get(0).get("split").asText());
        // Best by the lowest loss.
        assertEquals(last, summary.get("best").get("loss").asDouble(), 0);
        JsonNode config = JSON.readTree(lmRun.resolve(RunFolder.CONFIG).toFile());
        assertEquals("q_proj,v_proj", config.get("targets").asText(), "the decoder family's default targets");
        assertTrue(lmTrain.err().lines().anyMatch(l -> l.startsWith("epoch 2/2 dev: loss ")), lmTrain.err());
    }

    @Test
    void evalReproducesTheRunsLastValidationLoss() throws Exception {
        assertEquals(0, lmTrain.exit(), lmTrain.err());
        CliRunner.Result r = CliRunner.run("eval", "--run", lmRun.toString(), "--threads", "2");
        assertEquals(0, r.exit(), r.err());
        JsonNode out = JSON.readTree(r.out());
        JsonNode last = records(lmRun, "eval").get(1).get("metrics");
        assertEquals(last.get("loss").asDouble(), out.get("metrics").get("loss").asDouble(), 1e-6);
        assertEquals(8, out.get("examples").asInt());
        // predict is for GLUE test files; the message points to generate.
        assertUserError(CliRunner.run("predict", "--run", lmRun.toString(), "--input", lmRun.resolve("x.tsv").toString(),
                "--output", dir.resolve("p.tsv").toString()), "dynalora generate --model");
        assertUserError(CliRunner.run("eval", "--run", lmRun.toString(), "--split", "test"), "valid or train");
    }

    @Test
    void instructionTuningTrainsOnPromptCompletionPairs() throws Exception {
        Path out = dir.resolve("sft");
        CliRunner.Result r = CliRunner.run(args("sft", sst2, out, "--epochs", "1", "--targets", "all-linear").toArray(new String[0]));
        assertEquals(0, r.exit(), r.err());
        JsonNode config = JSON.readTree(out.resolve(RunFolder.CONFIG).toFile());
        assertEquals("q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", config.get("targets").asText());
        assertEquals(1e-3, config.get("lr").asDouble(), 1e-9, "the decoders' default learning rate for adapters");
        assertTrue(Double.isFinite(JSON.readTree(r.out()).get("final").get("loss").asDouble()));
    }

    @Test
    void dynamicLoraAndFullFineTuningRunOnADecoder() throws Exception {
        for (String method : List.of("dynamic", "full", "adalora")) {
            Path out = dir.resolve("lm-" + method);
            CliRunner.Result r = CliRunner.run(args("lm", shakespeare, out, "--epochs", "1", "--method", method)
                    .toArray(new String[0]));
            assertEquals(0, r.exit(), method + ": " + r.err());
            assertTrue(Double.isFinite(JSON.readTree(r.out()).get("final").get("loss").asDouble()), method);
        }
    }

    @Test
    void mistakesAreOneLineErrorsAndLeaveNothing() throws Exception {
        Path out = dir.resolve("bad");
        List<String> encoder = args("lm", shakespeare, out);
        encoder.set(encoder.indexOf("--model") + 1, CliRunner.miniLm().toString());
        assertUserError(CliRunner.run(encoder.toArray(new String[0])), "not a causal language model");
        assertUserError(CliRunner.run(args("mrpc", CliRunner.shared().resolve("glue"), out).toArray(new String[0])),
                "use --task lm or --task sft");
        assertUserError(CliRunner.run(args("lm", sst2, out).toArray(new String[0])), "train.txt");
        assertUserError(CliRunner.run(args("sft", shakespeare, out).toArray(new String[0])), "train.jsonl");
        List<String> tooLong = args("lm", shakespeare, out);
        tooLong.set(tooLong.indexOf("--max-len") + 1, "1000");
        assertUserError(CliRunner.run(tooLong.toArray(new String[0])), "max_position_embeddings 512");
        assertUserError(CliRunner.run(args("lm", shakespeare, out, "--method", "head").toArray(new String[0])), "--method head");
        assertFalse(Files.exists(out), "a failed start created the run folder");
    }

    /**
     * The trained run generates the same greedy continuation whether given as the run folder, as its PEFT
     * adapter folder alone, or merged into a LlamaForCausalLM folder; and that continuation differs from the
     * base model's (the adapter is really applied).
     */
    @Test
    void runFolderPeftFolderAndMergedModelGenerateTheSame() throws Exception {
        assertEquals(0, lmTrain.exit(), lmTrain.err());
        Path prompts = dir.resolve("prompts.jsonl");
        Files.writeString(prompts, "{\"prompt\": \"ROMEO:\\nWhat\"}\n{\"prompt\": \"Once upon a time\"}\n");
        Path peft = dir.resolve("peft-only");
        Files.createDirectories(peft);
        for (String f : List.of("adapter_config.json", "adapter_model.safetensors")) {
            Files.copy(lmRun.resolve(f), peft.resolve(f));
        }
        Path merged = dir.resolve("merged-lm");
        CliRunner.Result m = CliRunner.run("merge", "--run", lmRun.toString(), "--out", merged.toString());
        assertEquals(0, m.exit(), m.err());
        assertTrue(Files.isRegularFile(merged.resolve("tokenizer.model")) && Files.isRegularFile(merged.resolve("tokenizer.json")));

        List<String> viaRun = completions(model, lmRun, prompts, "run");
        assertEquals(viaRun, completions(model, peft, prompts, "peft"));
        assertEquals(viaRun, completions(merged, null, prompts, "merged"));
        assertFalse(viaRun.equals(completions(model, null, prompts, "base")), "the adapter changed nothing");
    }

    private static List<String> completions(Path modelDir, Path adapter, Path prompts, String name) throws Exception {
        Path out = dir.resolve("gen-" + name + ".jsonl");
        List<String> a = new ArrayList<>(List.of("generate", "--model", modelDir.toString(), "--input", prompts.toString(),
                "--output", out.toString(), "--max-new-tokens", "24", "--threads", "1"));
        if (adapter != null) {
            a.addAll(List.of("--adapter", adapter.toString()));
        }
        CliRunner.Result r = CliRunner.run(a.toArray(new String[0]));
        assertEquals(0, r.exit(), name + ": " + r.err());
        List<String> ids = new ArrayList<>();
        for (String line : Files.readAllLines(out)) {
            ids.add(JSON.readTree(line).get("completion_ids").toString());
        }
        return ids;
    }
}
