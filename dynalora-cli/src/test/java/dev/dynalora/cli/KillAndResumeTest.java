package dev.dynalora.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.formats.SafetensorsReader;
import dev.dynalora.training.Checkpoint;
import dev.dynalora.training.RunFolder;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Crash safety for real: a training run in a child JVM is killed with SIGKILL (no shutdown hook, no flush)
 * at a random step after its first checkpoint, resumed with {@code train --resume} in another child JVM, and
 * must end with the very files of an uninterrupted run with the same seed and thread count: trained tensors
 * and PEFT adapter bit for bit, metrics.jsonl and allocation.jsonl line for line (timings aside). LoRA, and
 * Dynamic LoRA, whose allocator carries importance averages, masks and gate statistics across the kill.
 */
@Tag("slow")
class KillAndResumeTest {
    static final int TOTAL_STEPS = 80; // 160 examples / batch 4, 2 epochs
    static final Pattern TRAIN_STEP = Pattern.compile("^\\{\"type\":\"train\",\"step\":(\\d+),.*}$");

    @TempDir
    static Path dir;
    static Path model;

    @BeforeAll
    static void tinyModel() throws IOException {
        model = TinyModel.create(dir.resolve("tiny-bert"));
    }

    static List<String> trainArgs(String method, Path out) {
        return List.of("train", "--model", model.toString(), "--task", "mrpc",
                "--data", CliRunner.shared().resolve("glue").toString(), "--method", method, "--out", out.toString(),
                "--limit", "160", "--eval-limit", "16", "--epochs", "2", "--batch", "4", "--max-len", "32",
                "--lr", "3e-3", "--seed", "5", "--threads", "2", "--log-every", "1", "--save-every", "5",
                "--t-init", "8", "--t-final", "16", "--delta-t", "4");
    }

    @Test
    void loraKilledAndResumedEqualsUninterrupted() throws Exception {
        killResumeAndCompare("lora");
    }

    @Test
    void dynamicLoraKilledAndResumedEqualsUninterrupted() throws Exception {
        killResumeAndCompare("dynamic");
    }

    void killResumeAndCompare(String method) throws Exception {
        Path reference = dir.resolve(method + "-uninterrupted");
        CliRunner.Result r = CliRunner.run(trainArgs(method, reference).toArray(new String[0]));
        assertEquals(0, r.exit(), r.err());

        Path killed = dir.resolve(method + "-killed");
        long seed = System.nanoTime();
        String at = killAtRandomStep(killed, trainArgs(method, killed), new Random(seed));
        Path log = dir.resolve(method + "-resume.log");
        Process resume = child(List.of("train", "--resume", "--out", killed.toString()), log);
        if (!resume.waitFor(180, TimeUnit.SECONDS)) {
            resume.destroyForcibly();
            fail("resume did not finish in 180 s: " + Files.readString(log));
        }
        assertEquals(0, resume.exitValue(), at + "; resume failed: " + Files.readString(log));

        for (String f : List.of(RunFolder.TRAINABLE, "adapter_model.safetensors")) {
            assertSameTensors(reference.resolve(f), killed.resolve(f), at);
        }
        assertEquals(withoutTimings(reference.resolve(RunFolder.METRICS)), withoutTimings(killed.resolve(RunFolder.METRICS)), at);
        Path allocation = reference.resolve(RunFolder.ALLOCATION);
        assertEquals(method.equals("dynamic"), Files.exists(allocation));
        if (Files.exists(allocation)) {
            assertEquals(Files.readAllLines(allocation), Files.readAllLines(killed.resolve(RunFolder.ALLOCATION)), at);
        }
        assertFalse(Files.exists(killed.resolve(RunFolder.PENDING_CHECKPOINT)));
    }

    @Test
    void sigtermStopsCleanlyWithACheckpointAndTheResumeCommand() throws Exception {
        interruptResumeAndCompare("TERM", 15, 1, out -> trainArgs("lora", out), TOTAL_STEPS);
    }

    /**
     * A second SIGTERM while the run is stopping is a supervisor passing the request on (bench glue's shutdown
     * hook after the terminal's Ctrl-C, Spark, a service manager), not "quit at once": the checkpoint is saved.
     */
    @Test
    void aSecondSigtermWhileStoppingStillSavesTheCheckpoint() throws Exception {
        interruptResumeAndCompare("TERM", 15, 2, out -> trainArgs("lora", out), TOTAL_STEPS);
    }

    /**
     * SIGTERM to bench glue alone (its child run gets no signal but the parent's): the parent stops the run and
     * waits for it, so that when bench glue has exited the run has saved its checkpoint and nothing is left
     * running; the same command then resumes the grid and completes it.
     */
    @Test
    void benchGlueStoppedBySigtermLeavesItsRunStoppedWithACheckpoint() throws Exception {
        Path grid = dir.resolve("grid-term");
        List<String> args = List.of("bench", "glue", "--model", model.toString(),
                "--data", CliRunner.shared().resolve("glue").toString(), "--out", grid.toString(), "--tasks", "mrpc",
                "--methods", "lora", "--seeds", "1", "--epochs", "2", "--limit-for", "mrpc=160", "--eval-limit", "16",
                "--max-len", "32", "--batch", "4", "--threads", "1");
        Path run = grid.resolve("mrpc-lora-s1");
        Path log = dir.resolve("grid-term.log");
        Process p = child(args, log);
        List<ProcessHandle> runs;
        long signalledAfter;
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
            while (lastLoggedStep(run) < 3) {
                waitABit(p, deadline, log);
            }
            signalledAfter = lastLoggedStep(run);
            runs = p.descendants().toList();
            assertFalse(runs.isEmpty(), "bench glue runs its training in a child JVM");
            signal(p, "TERM");
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "no exit after SIGTERM: " + Files.readString(log));
        } finally {
            if (p.isAlive()) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
            }
        }
        for (ProcessHandle h : runs) {
            assertFalse(h.isAlive(), "bench glue exited before its run had stopped: " + h.info());
        }
        assertEquals(143, p.exitValue(), Files.readString(log));
        assertTrue(Files.exists(run.resolve(RunFolder.CHECKPOINT)), "no checkpoint: " + Files.readString(log));
        assertTrue(Checkpoint.step(run.resolve(RunFolder.CHECKPOINT)) >= signalledAfter,
                "the checkpoint is older than the step the run had reached when signalled");
        CliRunner.Result again = CliRunner.run(args.toArray(new String[0]));
        assertEquals(0, again.exit(), again.out() + again.err());
        assertTrue(Files.readString(run.resolve(RunFolder.METRICS)).contains("\"type\":\"summary\""),
                "the second invocation did not complete the run");
    }

    /** The same for a decoder: language modelling on stories260K (40 windows / batch 4 x 2 epochs). */
    @Test
    void aCausalLmRunStopsOnSigtermAndResumesExactly() throws Exception {
        interruptResumeAndCompare("TERM", 15, 1, out -> List.of("train", "--model",
                CliRunner.shared().resolve("models/stories260K").toString(), "--task", "lm", "--data",
                CliRunner.shared().resolve("data/tinyshakespeare").toString(), "--method", "dynamic", "--out", out.toString(),
                "--limit", "40", "--eval-limit", "8", "--epochs", "2", "--batch", "4", "--max-len", "32", "--lr", "3e-3",
                "--seed", "5", "--threads", "2", "--log-every", "1", "--save-every", "5",
                "--t-init", "4", "--t-final", "4", "--delta-t", "3"), 20);
    }

    /**
     * Ctrl-C. Skipped when this JVM was started with SIGINT ignored (a background job of a non-interactive
     * shell): the child would inherit that, and the JVM rightly leaves an ignored SIGINT ignored.
     */
    @Test
    void ctrlCStopsCleanlyWithACheckpointAndTheResumeCommand() throws Exception {
        Assumptions.assumeFalse(sigintIgnored(), "SIGINT is ignored in this process (started in the background)");
        interruptResumeAndCompare("INT", 2, 1, out -> trainArgs("lora", out), TOTAL_STEPS);
    }

    /**
     * Sends the signal (as many times in a row as {@code times} says) at a random step to a training child JVM:
     * it must finish that step, save it as the checkpoint, print the resume command and exit with 128 + the
     * signal's number; the resumed run must then equal an uninterrupted one bit for bit.
     */
    void interruptResumeAndCompare(String signal, int number, int times,
                                   java.util.function.Function<Path, List<String>> args, int totalSteps) throws Exception {
        String name = "sig" + signal + times + "-" + args.apply(dir).get(4);
        Path reference = uninterrupted(args);

        Path out = dir.resolve(name);
        Path log = dir.resolve(name + ".log");
        Process p = child(args.apply(out), log);
        long target = 2 + new Random(System.nanoTime()).nextInt(totalSteps / 2);
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
            while (lastLoggedStep(out) < target) {
                waitABit(p, deadline, log);
            }
            for (int i = 0; i < times; i++) {
                signal(p, signal);
            }
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "no exit after SIG" + signal + ": " + Files.readString(log));
        } finally {
            if (p.isAlive()) {
                p.destroyForcibly();
            }
        }
        String printed = Files.readString(log);
        assertEquals(128 + number, p.exitValue(), printed);
        long saved = Checkpoint.step(out.resolve(RunFolder.CHECKPOINT));
        String at = "SIG" + signal + " after step " + target + ", checkpoint of step " + saved;
        assertEquals(lastLoggedStep(out), saved, "the checkpoint is not of the last step taken; " + at + ": " + printed);
        String lastLine = printed.strip().lines().reduce((a, b) -> b).orElse("");
        assertEquals("dynalora: interrupted after step " + saved + " of " + totalSteps + "; the checkpoint of step "
                + saved + " is saved; continue with: dynalora train --resume --out " + out, lastLine, printed);
        assertFalse(printed.contains("Exception"), printed);

        Process resume = child(List.of("train", "--resume", "--out", out.toString()), dir.resolve(name + "-resume.log"));
        assertTrue(resume.waitFor(180, TimeUnit.SECONDS));
        assertEquals(0, resume.exitValue(), Files.readString(dir.resolve(name + "-resume.log")));
        for (String f : List.of(RunFolder.TRAINABLE, "adapter_model.safetensors")) {
            if (Files.exists(reference.resolve(f))) {
                assertSameTensors(reference.resolve(f), out.resolve(f), at);
            }
        }
        if (Files.exists(reference.resolve(RunFolder.ALLOCATION))) {
            assertEquals(Files.readAllLines(reference.resolve(RunFolder.ALLOCATION)), Files.readAllLines(out.resolve(RunFolder.ALLOCATION)), at);
        }
        assertEquals(withoutTimings(reference.resolve(RunFolder.METRICS)), withoutTimings(out.resolve(RunFolder.METRICS)), at);
    }

    /**
     * The run trained without interruption with these arguments, trained once and shared by the tests that
     * interrupt the same run with different signals (keyed by the arguments, the output folder left out).
     */
    private static synchronized Path uninterrupted(java.util.function.Function<Path, List<String>> args) throws IOException {
        Path reference = dir.resolve("uninterrupted-" + Integer.toHexString(args.apply(Path.of("")).hashCode()));
        Path metrics = reference.resolve(RunFolder.METRICS);
        if (!Files.exists(metrics) || !Files.readString(metrics).contains("\"type\":\"summary\"")) {
            CliRunner.Result r = CliRunner.run(args.apply(reference).toArray(new String[0]));
            assertEquals(0, r.exit(), r.err());
        }
        return reference;
    }

    private static void signal(Process p, String signal) throws Exception {
        Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).inheritIO().start();
        assertEquals(0, kill.waitFor());
    }

    /** Whether SIGINT (signal 2) is in this process's ignored-signal mask (Linux /proc). */
    static boolean sigintIgnored() throws IOException {
        Path status = Path.of("/proc/self/status");
        if (!Files.exists(status)) {
            return true;
        }
        for (String line : Files.readAllLines(status)) {
            if (line.startsWith("SigIgn:")) {
                return (Long.parseLong(line.substring(7).trim(), 16) & (1L << 1)) != 0;
            }
        }
        return true;
    }

    /**
     * Starts the run in a child JVM, waits for its first checkpoint, then for a random later step (by its
     * progress in metrics.jsonl, not by the clock, so the kill lands mid-run on fast and slow machines alike)
     * plus a few random milliseconds, and kills it with SIGKILL. Returns a description for failure messages.
     */
    static String killAtRandomStep(Path out, List<String> args, Random random) throws Exception {
        Path log = out.resolveSibling(out.getFileName() + ".log");
        Process p = child(args, log);
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
            Path checkpoint = out.resolve(RunFolder.CHECKPOINT);
            while (!Files.exists(checkpoint)) {
                waitABit(p, deadline, log);
            }
            long first = Checkpoint.step(checkpoint);
            long target = first + 1 + random.nextInt((int) Math.max(1, TOTAL_STEPS * 3 / 4 - first));
            while (lastLoggedStep(out) < target) {
                waitABit(p, deadline, log);
            }
            Thread.sleep(random.nextInt(15));
            assertTrue(p.isAlive(), "the run finished before it could be killed: " + Files.readString(log));
            p.destroyForcibly(); // SIGKILL on Linux
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        } finally {
            if (p.isAlive()) {
                p.destroyForcibly();
            }
        }
        assertNotEquals(0, p.exitValue(), "a killed process cannot succeed");
        long logged = lastLoggedStep(out);
        long resumeFrom = Checkpoint.step(out.resolve(RunFolder.CHECKPOINT));
        String at = "killed after step " + logged + ", checkpoint of step " + resumeFrom;
        assertTrue(resumeFrom > 0 && resumeFrom <= logged, at);
        assertFalse(Files.readString(out.resolve(RunFolder.METRICS)).contains("\"summary\""), at);
        System.out.println(out.getFileName() + ": " + at);
        return at;
    }

    /** The JVM running this test, with its class path, running the dynalora command. */
    static Process child(List<String> args, Path log) throws IOException {
        String java = ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector", "-Xmx512m",
                "-XX:+UseSerialGC", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(args);
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    private static void waitABit(Process p, long deadline, Path log) throws Exception {
        if (!p.isAlive()) {
            fail("the training run ended before it was killed (exit " + p.exitValue() + "): " + Files.readString(log));
        }
        if (System.nanoTime() > deadline) {
            fail("the training run made no progress in 180 s: " + Files.readString(log));
        }
        Thread.sleep(2);
    }

    /** The last step with a complete train line in metrics.jsonl (the writer may be mid-line). */
    static long lastLoggedStep(Path run) throws IOException {
        Path f = run.resolve(RunFolder.METRICS);
        long last = 0;
        if (Files.exists(f)) {
            for (String line : Files.readAllLines(f)) {
                Matcher m = TRAIN_STEP.matcher(line);
                if (m.matches()) {
                    last = Long.parseLong(m.group(1));
                }
            }
        }
        return last;
    }

    static List<String> withoutTimings(Path metrics) throws IOException {
        ObjectMapper om = new ObjectMapper();
        List<String> out = new ArrayList<>();
        for (String line : Files.readAllLines(metrics)) {
            ObjectNode n = (ObjectNode) om.readTree(line);
            n.remove(List.of("tokens_per_s", "train_time_s"));
            out.add(n.toString());
        }
        return out;
    }

    /** Same tensor names and bit-identical values (compared as raw bits, so NaN == NaN and 0 != -0). */
    static void assertSameTensors(Path expected, Path actual, String context) {
        try (SafetensorsReader a = SafetensorsReader.open(expected); SafetensorsReader b = SafetensorsReader.open(actual)) {
            assertEquals(a.names(), b.names(), context);
            for (String name : a.names()) {
                float[] x = a.readFloat(name);
                float[] y = b.readFloat(name);
                assertArrayEquals(bits(x), bits(y), name + " differs; " + context);
            }
        }
    }

    private static int[] bits(float[] a) {
        int[] b = new int[a.length];
        for (int i = 0; i < a.length; i++) {
            b[i] = Float.floatToRawIntBits(a[i]);
        }
        return b;
    }
}
