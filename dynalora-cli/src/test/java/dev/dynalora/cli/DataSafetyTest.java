package dev.dynalora.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.training.RunFolder;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static dev.dynalora.cli.BadInputTest.assertUserError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Nothing lost: every --overwrite replaces only what the command wrote before, never the run it reads, a folder
 * holding it or a user's files; a failed start leaves nothing that blocks the corrected command; a refused rerun
 * of an interrupted run names --resume first. The defects a newcomer's trial found, replayed.
 */
class DataSafetyTest {
    @TempDir
    static Path dir;
    static Path model;
    static Path glue;
    /** A finished LoRA run on STS-B (regression) and one on MRPC, both on the tiny model. */
    static Path stsbRun;
    static Path mrpcRun;

    @BeforeAll
    static void runs() throws IOException {
        model = TinyModel.create(dir.resolve("tiny-bert"));
        glue = CliRunner.shared().resolve("glue");
        stsbRun = dir.resolve("sandbox/runs/stsb");
        mrpcRun = dir.resolve("sandbox/runs/mrpc");
        for (Path run : List.of(stsbRun, mrpcRun)) {
            String task = run == stsbRun ? "stsb" : "mrpc";
            CliRunner.Result r = CliRunner.run(trainArgs(task, run, "--epochs", "1").toArray(new String[0]));
            assertEquals(0, r.exit(), r.err());
        }
    }

    static List<String> trainArgs(String task, Path out, String... more) {
        List<String> a = new ArrayList<>(List.of("train", "--model", model.toString(), "--task", task, "--data", glue.toString(),
                "--out", out.toString(), "--limit", "24", "--eval-limit", "8", "--batch", "8", "--max-len", "32",
                "--threads", "1", "--log-every", "1"));
        // A flag given again replaces the default above (picocli refuses a repeated option).
        for (int i = 0; i < more.length; i++) {
            int at = a.indexOf(more[i]);
            boolean valued = i + 1 < more.length && !more[i + 1].startsWith("--");
            if (at >= 0 && valued) {
                a.set(at + 1, more[++i]);
            } else {
                a.add(more[i]);
                if (valued) {
                    a.add(more[++i]);
                }
            }
        }
        return a;
    }

    // ---- merge ---------------------------------------------------------------------------------------------

    @Test
    void mergeRefusesTheRunItselfAFolderHoldingItAndTheBaseModel() throws Exception {
        Path notes = dir.resolve("sandbox/notes.txt");
        Files.writeString(notes, "mine");
        List<String> before = listing(dir.resolve("sandbox"));
        assertUserError(CliRunner.run("merge", "--run", mrpcRun.toString(), "--out", mrpcRun.toString(), "--overwrite"),
                "is the run folder itself");
        assertUserError(CliRunner.run("merge", "--run", mrpcRun.toString(), "--out", mrpcRun.getParent().toString(), "--overwrite"),
                "contains the run folder");
        assertUserError(CliRunner.run("merge", "--run", mrpcRun.toString(), "--out", dir.resolve("sandbox").toString(), "--overwrite"),
                "contains the run folder");
        // Another spelling of the same folder.
        assertUserError(CliRunner.run("merge", "--run", mrpcRun.toString(), "--out", mrpcRun.resolve("../mrpc/.").toString(), "--overwrite"),
                "is the run folder itself");
        assertUserError(CliRunner.run("merge", "--run", mrpcRun.toString(), "--out", model.toString(), "--overwrite"),
                "base model folder");
        assertEquals(before, listing(dir.resolve("sandbox")), "a refused merge changed files");
        assertEquals("mine", Files.readString(notes));
    }

    @Test
    void mergeOverwriteReplacesOnlyAnEarlierExport() throws Exception {
        Path out = dir.resolve("merged-mrpc");
        CliRunner.Result r = CliRunner.run("merge", "--run", mrpcRun.toString(), "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        assertUserError(CliRunner.run("merge", "--run", mrpcRun.toString(), "--out", out.toString()), "--overwrite");
        r = CliRunner.run("merge", "--run", mrpcRun.toString(), "--out", out.toString(), "--overwrite");
        assertEquals(0, r.exit(), r.err());
        assertTrue(Files.isRegularFile(out.resolve("model.safetensors")));

        Path userFolder = dir.resolve("user-folder");
        Files.createDirectories(userFolder.resolve("sub"));
        Files.writeString(userFolder.resolve("notes.txt"), "keep me");
        Files.writeString(userFolder.resolve("config.json"), "{}");
        assertUserError(CliRunner.run("merge", "--run", mrpcRun.toString(), "--out", userFolder.toString(), "--overwrite"),
                "notes.txt");
        assertEquals("keep me", Files.readString(userFolder.resolve("notes.txt")));
        assertTrue(Files.isDirectory(userFolder.resolve("sub")));
    }

    @Test
    void regressionRunsMerge() throws Exception {
        Path out = dir.resolve("merged-stsb");
        CliRunner.Result r = CliRunner.run("merge", "--run", stsbRun.toString(), "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        JsonNode config = new ObjectMapper().readTree(out.resolve("config.json").toFile());
        assertEquals(1, config.get("num_labels").asInt());
        assertEquals("regression", config.get("problem_type").asText());
        assertEquals("LABEL_0", config.get("id2label").get("0").asText());
    }

    // ---- train: failed starts, stubs, interrupted runs ----------------------------------------------------

    @Test
    void failedStartsLeaveNothingAndTheCorrectedCommandRuns() throws Exception {
        Path out = dir.resolve("runs/x2");
        assertUserError(CliRunner.run(trainArgs("mrpc", out, "--data", "/nope").toArray(new String[0])), "/nope");
        assertFalse(Files.exists(out), "a failed start created the run folder");

        Path noTokenizer = dir.resolve("no-tokenizer");
        Files.createDirectories(noTokenizer);
        for (String f : List.of("config.json", "model.safetensors")) {
            Files.copy(model.resolve(f), noTokenizer.resolve(f));
        }
        List<String> args = trainArgs("mrpc", out);
        args.set(args.indexOf("--model") + 1, noTokenizer.toString());
        assertUserError(CliRunner.run(args.toArray(new String[0])), "tokenizer.json");
        assertFalse(Files.exists(out));

        Path ragged = dir.resolve("ragged-glue");
        Files.createDirectories(ragged.resolve("MRPC"));
        Files.writeString(ragged.resolve("MRPC/train.tsv"), "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t2\n");
        Files.writeString(ragged.resolve("MRPC/dev.tsv"), "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n");
        assertUserError(CliRunner.run(trainArgs("mrpc", out, "--data", ragged.toString()).toArray(new String[0])), "train.tsv");
        assertFalse(Files.exists(out));
        assertUserError(CliRunner.run(trainArgs("rte", out, "--data", ragged.toString()).toArray(new String[0])), "RTE");
        assertFalse(Files.exists(out));

        CliRunner.Result r = CliRunner.run(trainArgs("mrpc", out, "--epochs", "1").toArray(new String[0]));
        assertEquals(0, r.exit(), r.err());
    }

    @Test
    void maxLenBeyondTheModelsPositionsIsRefusedUpFront() {
        Path out = dir.resolve("runs/long");
        assertUserError(CliRunner.run(trainArgs("mrpc", out, "--max-len", "1000").toArray(new String[0])),
                "exceeds the model's max_position_embeddings 64");
        CliRunner.Result huge = CliRunner.run(trainArgs("mrpc", out, "--max-len", "100000").toArray(new String[0]));
        assertUserError(huge, "max_position_embeddings");
        assertFalse(huge.err().contains("-Xmx"), huge.err());
        assertFalse(Files.exists(out));
    }

    @Test
    void aStubFolderIsReusedButUserFilesAndRunsAreProtected() throws Exception {
        // What a run that failed before its first checkpoint leaves: a configuration and a few log lines.
        Path stub = dir.resolve("runs/stub");
        Files.createDirectories(stub);
        Files.copy(mrpcRun.resolve(RunFolder.CONFIG), stub.resolve(RunFolder.CONFIG));
        Files.writeString(stub.resolve(RunFolder.METRICS), "{\"type\":\"train\",\"step\":1}\n");
        CliRunner.Result r = CliRunner.run(trainArgs("mrpc", stub, "--epochs", "1").toArray(new String[0]));
        assertEquals(0, r.exit(), r.err());

        // A finished run is refused, and --overwrite keeps the user's files beside it.
        assertUserError(CliRunner.run(trainArgs("mrpc", stub, "--epochs", "1").toArray(new String[0])), "finished run");
        Path notes = stub.resolve("notes.txt");
        Files.writeString(notes, "mine");
        r = CliRunner.run(trainArgs("mrpc", stub, "--epochs", "1", "--overwrite").toArray(new String[0]));
        assertEquals(0, r.exit(), r.err());
        assertEquals("mine", Files.readString(notes));

        // A folder of someone else's files is refused.
        Path foreign = dir.resolve("runs/foreign");
        Files.createDirectories(foreign);
        Files.writeString(foreign.resolve("data.csv"), "a,b\n");
        assertUserError(CliRunner.run(trainArgs("mrpc", foreign).toArray(new String[0])), "data.csv");
    }

    @Test
    void anInterruptedRunIsRefusedWithTheResumeCommandFirst() throws Exception {
        Path run = dir.resolve("runs/interrupted");
        Files.createDirectories(run);
        Files.copy(mrpcRun.resolve(RunFolder.CONFIG), run.resolve(RunFolder.CONFIG));
        Files.copy(mrpcRun.resolve(RunFolder.CHECKPOINT), run.resolve(RunFolder.CHECKPOINT));
        CliRunner.Result r = CliRunner.run(trainArgs("mrpc", run).toArray(new String[0]));
        assertUserError(r, "dynalora train --resume --out " + run);
        String err = r.err();
        assertTrue(err.indexOf("--resume") < err.indexOf("--overwrite"), err);
        assertTrue(Files.exists(run.resolve(RunFolder.CHECKPOINT)));
    }

    // ---- output files of predict and report ---------------------------------------------------------------

    @Test
    void predictAndReportNeverReplaceInputsOrForeignFiles() throws Exception {
        Path test = dir.resolve("test.tsv");
        Files.writeString(test, "index\t#1 ID\t#2 ID\t#1 String\t#2 String\n0\t1\t2\tA man eats.\tA man is eating.\n");
        assertUserError(CliRunner.run("predict", "--run", mrpcRun.toString(), "--input", test.toString(), "--output",
                test.toString(), "--overwrite"), "is an input");
        Path mine = dir.resolve("mine.tsv");
        Files.writeString(mine, "precious\n");
        assertUserError(CliRunner.run("predict", "--run", mrpcRun.toString(), "--input", test.toString(), "--output",
                mine.toString(), "--overwrite"), "not a predictions file");
        assertEquals("precious\n", Files.readString(mine));

        Path metrics = mrpcRun.resolve(RunFolder.METRICS);
        String log = Files.readString(metrics);
        assertUserError(CliRunner.run("report", "--run", mrpcRun.toString(), "--out", metrics.toString(), "--overwrite"),
                "is an input");
        assertUserError(CliRunner.run("report", "--run", mrpcRun.toString(), "--out", mine.toString(), "--overwrite"),
                "not a report");
        assertEquals(log, Files.readString(metrics));
    }

    @Test
    void overlaidRunsOnDifferentDataAmountsAreFlagged() throws Exception {
        Path other = dir.resolve("runs/mrpc-more");
        CliRunner.Result r = CliRunner.run(trainArgs("mrpc", other, "--epochs", "1", "--limit", "32").toArray(new String[0]));
        assertEquals(0, r.exit(), r.err());
        Path html = dir.resolve("overlay.html");
        r = CliRunner.run("report", "--run", mrpcRun.toString(), "--run", other.toString(), "--out", html.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("--limit (24, 32)"), r.err());
        assertTrue(Files.readString(html).contains("--limit (24, 32)"));
    }

    // ---- what a user sees ---------------------------------------------------------------------------------

    @Test
    void aRunLogsPlainLinesWhenStandardErrorIsNotATerminal() {
        Path out = dir.resolve("runs/logged");
        CliRunner.Result r = CliRunner.run(trainArgs("mrpc", out, "--epochs", "2", "--log-every", "2").toArray(new String[0]));
        assertEquals(0, r.exit(), r.err());
        List<String> lines = r.err().lines().toList();
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("step 2/6 ") && l.contains("loss ") && l.contains("lr ")
                && l.contains("tokens/s") && l.contains("eta ")), r.err());
        assertEquals(3, lines.stream().filter(l -> l.startsWith("step ")).count(), r.err());
        assertTrue(lines.stream().anyMatch(l -> l.matches("epoch 1/2 dev: accuracy \\d\\.\\d{4}, f1 \\d\\.\\d{4}.*")), r.err());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("epoch 2/2 dev: ")), r.err());
        assertFalse(r.err().contains("{accuracy="), r.err());
    }

    @Test
    void helpHasNoWarningsAndNoCommandIsAUsageError() {
        for (String cmd : List.of("train", "merge", "predict", "report", "eval", "embed", "info")) {
            CliRunner.Result r = CliRunner.run(cmd, "--help");
            assertEquals(0, r.exit());
            assertEquals("", r.err(), cmd + " --help printed warnings");
            assertFalse(r.out().contains("WARN"), r.out());
        }
        CliRunner.Result none = CliRunner.run();
        assertEquals(2, none.exit());
        assertTrue(none.err().contains("Usage: dynalora"), none.err());
        assertTrue(none.err().strip().endsWith("dynalora: error: no command given; run one of the commands above (e.g. dynalora train --help)"),
                none.err());
    }

    @Test
    void aGatedDynamicLoraAdapterWarnsThatPeftDropsItsGates() throws Exception {
        ObjectMapper om = new ObjectMapper();
        Path gated = dir.resolve("runs/gated");
        CliRunner.Result r = CliRunner.run(trainArgs("mrpc", gated, "--epochs", "1", "--method", "dynamic").toArray(new String[0]));
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("dynalora: warning: the adapter's input gates") && r.err().contains("--no-gate"), r.err());
        assertTrue(om.readTree(r.out()).get("adapter_warning").asText().contains("lora_gate"));

        Path plain = dir.resolve("runs/ungated");
        r = CliRunner.run(trainArgs("mrpc", plain, "--epochs", "1", "--method", "dynamic", "--no-gate").toArray(new String[0]));
        assertEquals(0, r.exit(), r.err());
        assertFalse(r.err().contains("warning"), r.err());
        assertNull(om.readTree(r.out()).get("adapter_warning"));
    }

    @Test
    void baseModelPathIsStoredNormalised() throws Exception {
        JsonNode adapter = new ObjectMapper().readTree(mrpcRun.resolve("adapter_config.json").toFile());
        String base = adapter.get("base_model_name_or_path").asText();
        assertEquals(Path.of(base).normalize().toString(), base);
        assertFalse(base.contains("/../") || base.contains("/./"), base);
    }

    private static List<String> listing(Path root) throws IOException {
        try (var s = Files.walk(root)) {
            return s.map(p -> root.relativize(p).toString()).sorted().toList();
        }
    }
}
