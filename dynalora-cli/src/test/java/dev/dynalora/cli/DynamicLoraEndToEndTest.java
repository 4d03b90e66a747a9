package dev.dynalora.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Dynamic LoRA and AdaLoRA through the CLI on a handful of MRPC examples: the allocation is logged over
 * time with a constant budget (Dynamic LoRA), the adapter is written in PEFT layout (LoRA, or ADALORA), and
 * merging a gated adapter is refused with a clear message while LoRA and AdaLoRA runs merge into a Hugging Face
 * folder.
 */
@Tag("slow")
class DynamicLoraEndToEndTest {

    static CliRunner.Result train(Path out, String method, String... extra) {
        List<String> args = new java.util.ArrayList<>(List.of("train", "--model", CliRunner.miniLm().toString(), "--task", "mrpc",
                "--data", CliRunner.shared().resolve("glue").toString(), "--method", method, "--out", out.toString(),
                "--limit", "96", "--eval-limit", "16", "--epochs", "1", "--batch", "8", "--max-len", "40",
                "--log-every", "1", "--threads", "2", "--t-init", "2", "--t-final", "2", "--delta-t", "2"));
        args.addAll(List.of(extra));
        return CliRunner.run(args.toArray(new String[0]));
    }

    @Test
    void dynamicRunLogsAllocationAndRefusesExactMerge(@TempDir Path dir) throws Exception {
        Path run = dir.resolve("dyn");
        CliRunner.Result r = train(run, "dynamic");
        assertEquals(0, r.exit(), r.err());
        for (String f : List.of("allocation.jsonl", "adapter_config.json", "adapter_model.safetensors", "metrics.jsonl")) {
            assertTrue(Files.isRegularFile(run.resolve(f)), f);
        }
        ObjectMapper om = new ObjectMapper();
        List<String> lines = Files.readAllLines(run.resolve("allocation.jsonl"));
        assertEquals(12, lines.size(), "one record per logged step");
        boolean moved = false;
        JsonNode firstRanks = null;
        List<Integer> previous = null;
        for (String line : lines) {
            JsonNode n = om.readTree(line);
            // --max-rank-step defaults to 2: no module gains or loses more than 2 components at one reallocation
            // (records are every step here, so consecutive records are at most one reallocation apart).
            List<Integer> now = ranks(n);
            if (previous != null) {
                for (int m = 0; m < now.size(); m++) {
                    assertTrue(Math.abs(now.get(m) - previous.get(m)) <= 2, previous + " -> " + now);
                }
            }
            previous = now;
            int sum = 0;
            for (JsonNode m : n.get("modules")) {
                int rank = m.get("rank").asInt();
                assertTrue(rank >= 1 && rank <= 16, "rank out of bounds: " + rank);
                assertTrue(m.has("importance") && m.has("gate_mean"));
                sum += rank;
            }
            // The parameter budget (--budget parameters, the default): LoRA's 12 x 8 components of 768 parameters,
            // less the 12 gates' 385, buy 89 whole components, at every record.
            assertEquals(89, sum, "the global budget must stay exact");
            assertTrue(n.get("active_params").asLong() <= 12 * 8 * 768, n.get("active_params").toString());
            assertEquals(12 * 8 * 768, n.get("params_budget").asLong(), "LoRA's count at rank 8");
            assertTrue(n.get("active_params").asLong() > 12 * 8 * 768 - 768, "within one component of it");
            if (firstRanks == null) {
                firstRanks = n.get("modules");
            } else {
                moved |= !n.get("modules").toString().equals(firstRanks.toString());
            }
        }
        assertTrue(moved, "rank never moved between modules");
        JsonNode cfg = om.readTree(run.resolve("adapter_config.json").toFile());
        assertEquals("LORA", cfg.get("peft_type").asText());
        JsonNode runCfg = om.readTree(run.resolve("run_config.json").toFile());
        assertEquals(0.1, runCfg.findValue("gate_lr_ratio").asDouble(), 0.0, runCfg.toString());
        assertEquals(2, runCfg.findValue("max_rank_step").asInt(), runCfg.toString());
        CliRunner.Result merge = CliRunner.run("merge", "--run", run.toString(), "--out", dir.resolve("merged").toString());
        assertEquals(2, merge.exit(), merge.out() + merge.err());
        assertTrue(merge.err().contains("gate"), merge.err());
        assertFalse(Files.exists(dir.resolve("merged")));
    }

    /**
     * A Dynamic LoRA run whose ranks moved, on STS-B (a continuous metric, so a model rebuilt with another
     * allocation or another kind of gate would show), with the gate per example and per token: `eval` on the
     * finished run reproduces the trainer's last dev evaluation exactly (with its evaluation batch of 32: other
     * batches pad to other lengths, which moves the last bits of the softmax sums). The gate's kind is recorded
     * in the run configuration, and gate statistics are logged.
     */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"false, false", "true, false", "false, true"})
    void dynamicRunEvaluatesAsTrained(boolean perToken, boolean centred, @TempDir Path dir) throws Exception {
        Path run = dir.resolve("dyn");
        List<String> args = new java.util.ArrayList<>(List.of("train", "--model", CliRunner.miniLm().toString(),
                "--task", "stsb", "--data", CliRunner.shared().resolve("glue").toString(), "--method", "dynamic",
                "--out", run.toString(), "--limit", "64", "--epochs", "1", "--batch", "8", "--max-len", "40",
                "--log-every", "1", "--threads", "2", "--t-init", "1", "--t-final", "1", "--delta-t", "2"));
        if (perToken) {
            args.add("--gate-per-token");
        }
        if (centred) {
            args.add("--gate-centre");
        }
        CliRunner.Result r = CliRunner.run(args.toArray(new String[0]));
        assertEquals(0, r.exit(), r.err());
        ObjectMapper om = new ObjectMapper();
        JsonNode cfg = om.readTree(run.resolve("run_config.json").toFile());
        assertEquals(perToken, cfg.findValue("gate_per_token").asBoolean(), cfg.toString());
        assertEquals(centred, cfg.findValue("gate_centre").asBoolean(), cfg.toString());
        // A centred gate's centre is saved with the run and in the PEFT adapter (the same values), one per module.
        try (dev.dynalora.formats.SafetensorsReader t = dev.dynalora.formats.SafetensorsReader.open(run.resolve("trainable.safetensors"));
             dev.dynalora.formats.SafetensorsReader p = dev.dynalora.formats.SafetensorsReader.open(run.resolve("adapter_model.safetensors"))) {
            long centres = t.names().stream().filter(n -> n.endsWith(".lora_gate.centre")).count();
            long peftCentres = p.names().stream().filter(n -> n.endsWith(".lora_gate.centre")).count();
            assertEquals(centred ? 12 : 0, centres, t.names().toString());
            assertEquals(centres, peftCentres, p.names().toString());
            if (centred) {
                String key = "encoder.layer.0.attention.self.query.lora_gate.centre";
                float[] c = t.readFloat(key);
                assertEquals(384, c.length);
                assertTrue(java.util.stream.IntStream.range(0, c.length).anyMatch(i -> c[i] != 0f), "a measured centre");
                org.junit.jupiter.api.Assertions.assertArrayEquals(c, p.readFloat("base_model.model.bert." + key));
            }
        }
        List<String> alloc = Files.readAllLines(run.resolve("allocation.jsonl"));
        assertNotEquals(ranks(om.readTree(alloc.get(0))), ranks(om.readTree(alloc.get(alloc.size() - 1))),
                "the ranks moved between modules (so the final masks matter)");
        JsonNode rec = om.readTree(Files.readAllLines(run.resolve("allocation.jsonl")).get(0));
        for (JsonNode m : rec.get("modules")) {
            assertTrue(m.has("gate_mean"), m.toString());
        }
        JsonNode lastEval = null;
        for (String line : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            JsonNode n = om.readTree(line);
            if ("eval".equals(n.path("type").asText())) {
                lastEval = n;
            }
        }
        CliRunner.Result ev = CliRunner.run("eval", "--run", run.toString(), "--threads", "2", "--batch", "32");
        assertEquals(0, ev.exit(), ev.err());
        JsonNode metrics = om.readTree(ev.out()).get("metrics");
        assertEquals(lastEval.get("metrics").get("pearson").asDouble(), metrics.get("pearson").asDouble(), 0.0,
                lastEval + " vs " + metrics);
    }

    @ParameterizedTest
    @ValueSource(strings = {"--gate-lr-ratio=-0.5", "--gate-lr-ratio=NaN", "--max-rank-step=-1"})
    void badDynamicSettingsAreRefusedInOneLine(String flag, @TempDir Path dir) {
        Path run = dir.resolve("bad");
        CliRunner.Result r = train(run, "dynamic", flag);
        assertEquals(2, r.exit(), r.out() + r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().contains(flag.substring(0, flag.indexOf('='))), r.err());
        assertFalse(Files.exists(run), "no run folder for a refused configuration");
    }

    static List<Integer> ranks(JsonNode allocationRecord) {
        List<Integer> out = new java.util.ArrayList<>();
        allocationRecord.get("modules").forEach(m -> out.add(m.get("rank").asInt()));
        return out;
    }

    @Test
    void loraRunMergesIntoHuggingFaceFolder(@TempDir Path dir) throws Exception {
        Path run = dir.resolve("lora");
        assertEquals(0, train(run, "lora").exit());
        Path merged = dir.resolve("merged");
        CliRunner.Result m = CliRunner.run("merge", "--run", run.toString(), "--out", merged.toString());
        assertEquals(0, m.exit(), m.err());
        JsonNode cfg = new ObjectMapper().readTree(merged.resolve("config.json").toFile());
        assertEquals("BertForSequenceClassification", cfg.get("architectures").get(0).asText());
        assertTrue(Files.isRegularFile(merged.resolve("model.safetensors")));
        assertTrue(Files.isRegularFile(merged.resolve("tokenizer.json")));
        // The merged folder is itself a model dynalora can read.
        CliRunner.Result info = CliRunner.run("info", "--model", merged.toString());
        assertEquals(0, info.exit(), info.err());
    }

    /**
     * AdaLoRA with lora_dropout: the budget is logged, the adapter is written in PEFT's ADALORA layout with the
     * allocator's final ranks in rank_pattern, and the run merges into a Hugging Face folder.
     */
    @Test
    void adaloraRunTrainsLogsItsBudgetExportsAndMerges(@TempDir Path dir) throws Exception {
        Path run = dir.resolve("ada");
        CliRunner.Result r = train(run, "adalora", "--lora-dropout", "0.1");
        assertEquals(0, r.exit(), r.err());
        ObjectMapper om = new ObjectMapper();
        List<String> lines = Files.readAllLines(run.resolve("allocation.jsonl"));
        assertFalse(lines.isEmpty());
        JsonNode last = om.readTree(lines.get(lines.size() - 1));
        assertTrue(last.toString().contains("budget"), last.toString());
        assertEquals("peft", om.readTree(r.out()).get("adapter_export").asText());

        JsonNode cfg = om.readTree(run.resolve("adapter_config.json").toFile());
        assertEquals("ADALORA", cfg.get("peft_type").asText());
        assertEquals(0.1, cfg.get("lora_dropout").asDouble());
        assertEquals(12, cfg.get("total_step").asInt());
        int kept = 0;
        for (JsonNode flags : cfg.get("rank_pattern")) {
            for (JsonNode f : flags) {
                kept += f.asBoolean() ? 1 : 0;
            }
        }
        // The run ends inside t_final, where the final mask holds: the file keeps exactly the logged budget.
        assertEquals(last.get("budget").asInt(), kept);

        Path merged = dir.resolve("merged");
        CliRunner.Result m = CliRunner.run("merge", "--run", run.toString(), "--out", merged.toString());
        assertEquals(0, m.exit(), m.err());
        assertTrue(Files.isRegularFile(merged.resolve("model.safetensors")));
    }
}
