package dev.dynalora.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A user's mistake gets one line on standard error, exit code 2, and no stack trace. */
class BadInputTest {

    /** Progress lines a training run logs before it fails (when standard error is not a terminal). */
    static final java.util.regex.Pattern LOG_LINE = java.util.regex.Pattern.compile(
            "^(training: |step \\d+/\\d+ |epoch \\d+/\\d+ dev: |resumed at step ).*");

    static void assertUserError(CliRunner.Result r, String fragment) {
        assertEquals(2, r.exit(), "stdout: " + r.out() + " stderr: " + r.err());
        String err = String.join("\n", r.err().strip().lines().filter(l -> !LOG_LINE.matcher(l).matches()).toList());
        assertFalse(err.contains("\n"), "expected one line, got: " + err);
        assertFalse(err.contains("Exception") || err.contains("\tat "), "stack trace leaked: " + err);
        assertTrue(err.toLowerCase().contains(fragment.toLowerCase()), "expected '" + fragment + "' in: " + err);
    }

    @Test
    void missingModelFolder(@TempDir Path dir) {
        assertUserError(CliRunner.run("info", "--model", dir.resolve("nope").toString()), "nope");
    }

    @Test
    void missingConfig(@TempDir Path dir) {
        assertUserError(CliRunner.run("info", "--model", dir.toString()), "config.json");
    }

    @Test
    void unknownModelType(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"gpt5\", \"hidden_size\": 8}");
        assertUserError(CliRunner.run("info", "--model", dir.toString()), "gpt5");
    }

    @Test
    void truncatedSafetensors(@TempDir Path dir) throws Exception {
        Path src = CliRunner.miniLm();
        Files.copy(src.resolve("config.json"), dir.resolve("config.json"));
        Files.copy(src.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        byte[] head = new byte[4096];
        try (RandomAccessFile f = new RandomAccessFile(src.resolve("model.safetensors").toFile(), "r")) {
            f.readFully(head);
        }
        Files.write(dir.resolve("model.safetensors"), head);
        Path in = dir.resolve("in.txt");
        Files.writeString(in, "hello\n");
        assertUserError(CliRunner.run("embed", "--model", dir.toString(), "--input", in.toString()), "model.safetensors");
    }

    @Test
    void inputFileMissing(@TempDir Path dir) {
        assertUserError(CliRunner.run("embed", "--model", CliRunner.miniLm().toString(), "--input", dir.resolve("x.txt").toString()), "does not exist");
    }

    @Test
    void inputNotUtf8(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("latin1.txt");
        Files.write(in, new byte[] {'c', 'a', 'f', (byte) 0xE9, '\n'});
        assertUserError(CliRunner.run("embed", "--model", CliRunner.miniLm().toString(), "--input", in.toString()), "UTF-8");
    }

    @Test
    void unknownFlag() {
        assertUserError(CliRunner.run("info", "--model", "x", "--bogus"), "--bogus");
    }

    @Test
    void unknownTaskAndMethod(@TempDir Path dir) {
        String m = CliRunner.miniLm().toString();
        String data = CliRunner.shared().resolve("glue").toString();
        assertUserError(CliRunner.run("train", "--model", m, "--task", "squad", "--data", data, "--out", dir.resolve("r").toString()), "squad");
        assertUserError(CliRunner.run("train", "--model", m, "--task", "mrpc", "--method", "magic", "--data", data, "--out", dir.resolve("r").toString()), "magic");
        assertUserError(CliRunner.run("train", "--model", m, "--task", "mrpc", "--targets", "nosuchmodule", "--data", data, "--out", dir.resolve("r").toString()), "matched no module");
        assertUserError(CliRunner.run("train", "--model", m, "--task", "mrpc", "--lora-dropout", "1", "--data", data, "--out", dir.resolve("r").toString()), "dropout must be in [0, 1)");
        assertFalse(Files.exists(dir.resolve("r")), "a failed start must not leave a run folder");
    }

    @Test
    void memoryGuardStopsBeforeTraining(@TempDir Path dir) {
        // A batch that cannot fit any heap this test runs with: refused up front, nothing written.
        CliRunner.Result r = CliRunner.run("train", "--model", CliRunner.miniLm().toString(), "--task", "mrpc",
                "--data", CliRunner.shared().resolve("glue").toString(), "--batch", "100000", "--max-len", "512",
                "--out", dir.resolve("r").toString());
        assertUserError(r, "smaller --batch");
        assertFalse(Files.exists(dir.resolve("r")), "no run folder may be left behind");
    }
}
