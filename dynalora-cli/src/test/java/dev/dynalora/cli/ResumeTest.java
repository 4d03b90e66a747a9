package dev.dynalora.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.formats.SafetensorsReader;
import dev.dynalora.training.Checkpoint;
import dev.dynalora.training.RunFolder;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static dev.dynalora.cli.BadInputTest.assertUserError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * train --resume in process: a diverged run keeps its last good checkpoint and resumes from it with a lower
 * learning rate; an AdaLoRA run resumed from what a crash at a random moment leaves on disk ends as the
 * uninterrupted run; and every way of misusing --resume is a one-line error that leaves the folder alone.
 */
class ResumeTest {
    @TempDir
    static Path dir;
    static Path model;
    static Path finished;

    @BeforeAll
    static void tinyModelAndFinishedRun() throws Exception {
        model = TinyModel.create(dir.resolve("tiny-bert"));
        finished = dir.resolve("finished");
        CliRunner.Result r = CliRunner.run(args("lora", finished, "--limit", "16", "--epochs", "1"));
        assertEquals(0, r.exit(), r.err());
    }

    static String[] args(String method, Path out, String... extra) {
        List<String> a = new ArrayList<>(List.of("train", "--model", model.toString(), "--task", "mrpc",
                "--data", CliRunner.shared().resolve("glue").toString(), "--method", method, "--out", out.toString(),
                "--eval-limit", "16", "--batch", "4", "--max-len", "32", "--seed", "3", "--threads", "2", "--log-every", "1"));
        a.addAll(List.of(extra));
        return a.toArray(new String[0]);
    }

    @Test
    void divergedRunKeepsLastGoodCheckpointAndResumesWithLowerLr() throws Exception {
        Path run = dir.resolve("diverged");
        // lr(0) is 0 in warm-up; the next update (lr 5e19) gives finite but enormous weights, whose forward pass
        // overflows one step later. --save-every 1 checkpoints after every step.
        CliRunner.Result r = CliRunner.run(args("lora", run, "--limit", "64", "--epochs", "2", "--lr", "1e20", "--save-every", "1"));
        List<String> lines = Files.readAllLines(run.resolve(RunFolder.METRICS));
        JsonNode last = new ObjectMapper().readTree(lines.get(lines.size() - 1));
        assertEquals("diverged", last.get("type").asText(), lines.toString());
        long divergedAt = last.get("step").asLong();
        assertUserError(r, "diverged at step " + divergedAt);
        assertTrue(r.err().contains("--resume --out " + run), r.err());
        long kept = Checkpoint.step(run.resolve(RunFolder.CHECKPOINT));
        // The state after step divergedAt - 1 was finite but is the one that overflowed: its pending checkpoint
        // is dropped, and the kept one is the last state from which a step computed a finite loss.
        assertEquals(divergedAt - 2, kept, r.err());
        assertEquals(kept, last.get("checkpoint_step").asLong());
        assertTrue(r.err().contains("checkpoint of step " + kept), r.err());
        assertFalse(Files.exists(run.resolve(RunFolder.PENDING_CHECKPOINT)));
        assertAllFinite(run.resolve(RunFolder.CHECKPOINT));

        CliRunner.Result resumed = CliRunner.run("train", "--resume", "--out", run.toString(), "--lr", "1e-3");
        assertEquals(0, resumed.exit(), resumed.err());
        assertAllFinite(run.resolve(RunFolder.TRAINABLE));
        String metrics = Files.readString(run.resolve(RunFolder.METRICS));
        assertFalse(metrics.contains("\"diverged\""), "the diverged record is after the checkpoint and must be cut");
        assertTrue(metrics.contains("{\"type\":\"resumed\",\"step\":" + kept + ",\"changed\":{\"lr\":{\"from\":1.0E20,\"to\":0.001}}}"), metrics);
        assertTrue(metrics.contains("\"steps\":32"), metrics);
        assertTrue(Files.readString(run.resolve(RunFolder.CONFIG)).contains("\"lr\" : 0.001"));
    }

    /**
     * What a crash leaves on disk, copied from a live run at a random moment after its first checkpoint (the
     * checkpoint first: the logs only grow, so they are at least as long as it records), resumed, must end as
     * the uninterrupted run did: AdaLoRA's importance averages and rank pattern are restored, and Dynamic LoRA's
     * allocator state and gate centres.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"adalora", "dynamic"})
    void adaptiveRunResumedFromCrashSnapshotEqualsUninterrupted(String method) throws Exception {
        Path run = dir.resolve(method);
        Path snapshot = dir.resolve(method + "-crashed");
        // Dynamic LoRA with centred gates: the centres are measured once, before the first step, and a resumed
        // run must take them from the checkpoint rather than measure them again on its own first batch.
        List<String> extra = new ArrayList<>(List.of("--limit", "96", "--epochs", "2", "--lr", "3e-3", "--save-every", "3",
                "--t-init", "4", "--t-final", "12", "--delta-t", "3"));
        if (method.equals("dynamic")) {
            extra.add("--gate-centre");
        }
        String[] a = args(method, run, extra.toArray(new String[0]));
        CompletableFuture<CliRunner.Result> live = CompletableFuture.supplyAsync(() -> CliRunner.run(a));
        // After the first checkpoint, a random number of steps on (by progress, not by the clock, so the run is
        // still going however fast the machine is).
        Path checkpoint = run.resolve(RunFolder.CHECKPOINT);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!Files.exists(checkpoint) && !live.isDone() && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        long target = KillAndResumeTest.lastLoggedStep(run) + new Random().nextInt(12);
        while (KillAndResumeTest.lastLoggedStep(run) < target && !live.isDone() && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        Files.createDirectories(snapshot);
        for (String f : List.of(RunFolder.CHECKPOINT, RunFolder.CONFIG, RunFolder.METRICS, RunFolder.ALLOCATION)) {
            Files.copy(run.resolve(f), snapshot.resolve(f));
        }
        CliRunner.Result r = live.get(120, TimeUnit.SECONDS);
        assertEquals(0, r.exit(), r.err());
        long from = Checkpoint.step(snapshot.resolve(RunFolder.CHECKPOINT));
        assertTrue(from > 0 && from < 48, "snapshot at step " + from + " of 48");

        CliRunner.Result resumed = CliRunner.run("train", "--resume", "--out", snapshot.toString());
        assertEquals(0, resumed.exit(), resumed.err());
        String at = "resumed from step " + from;
        KillAndResumeTest.assertSameTensors(run.resolve(RunFolder.TRAINABLE), snapshot.resolve(RunFolder.TRAINABLE), at);
        assertEquals(KillAndResumeTest.withoutTimings(run.resolve(RunFolder.METRICS)),
                KillAndResumeTest.withoutTimings(snapshot.resolve(RunFolder.METRICS)), at);
        assertEquals(Files.readAllLines(run.resolve(RunFolder.ALLOCATION)),
                Files.readAllLines(snapshot.resolve(RunFolder.ALLOCATION)), at);
    }

    @Test
    void finishedRunIsNotResumed() throws Exception {
        byte[] before = Files.readAllBytes(finished.resolve(RunFolder.METRICS));
        assertUserError(CliRunner.run("train", "--resume", "--out", finished.toString()), "already finished");
        assertEquals(new String(before), Files.readString(finished.resolve(RunFolder.METRICS)));
    }

    @Test
    void folderWithoutCheckpointIsRefused() throws Exception {
        Path run = dir.resolve("no-checkpoint");
        Files.createDirectories(run);
        Files.copy(finished.resolve(RunFolder.CONFIG), run.resolve(RunFolder.CONFIG));
        assertUserError(CliRunner.run("train", "--resume", "--out", run.toString()), "no checkpoint");
        assertUserError(CliRunner.run("train", "--resume", "--out", dir.resolve("nothing-here").toString()),
                "not a dynalora run folder");
        try (Stream<Path> files = Files.list(run)) {
            assertEquals(1, files.count(), "nothing may be written");
        }
    }

    @Test
    void flagsThatWouldChangeTheRunAreRefused() {
        String out = finished.toString();
        assertUserError(CliRunner.run("train", "--resume", "--out", out, "--rank", "4"), "drop --rank");
        assertUserError(CliRunner.run("train", "--resume", "--out", out, "--model", model.toString(), "--seed", "1"),
                "drop --model, --seed");
        assertUserError(CliRunner.run("train", "--resume", "--out", out, "--overwrite"), "drop --overwrite");
        assertUserError(CliRunner.run("train", "--out", out, "--task", "mrpc"), "missing --model, --data");
        assertUserError(CliRunner.run(args("lora", dir.resolve("x"), "--save-every", "-1")), "--save-every");
    }

    static void assertAllFinite(Path file) {
        try (SafetensorsReader r = SafetensorsReader.open(file)) {
            for (String name : r.names()) {
                for (float x : r.readFloat(name)) {
                    assertTrue(Float.isFinite(x), file.getFileName() + ": " + name + " holds " + x);
                }
            }
        }
    }
}
