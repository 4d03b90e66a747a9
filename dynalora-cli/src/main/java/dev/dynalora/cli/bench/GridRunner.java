package dev.dynalora.cli.bench;

import dev.dynalora.UserInputException;
import dev.dynalora.training.RunFolder;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Runs the runs of a grid that are not complete yet, one after the other, each as dynalora train in a child
 * JVM (see ChildJava) with its output in OUT/logs/&lt;run&gt;.log. Separate processes keep the runs independent:
 * none inherits another's JIT warm-up (which would flatter the training time of whichever runs late) or its
 * heap, and a crash or an out-of-memory ends one run, not the grid. A run that fails is recorded and the grid
 * goes on; running the grid again retries it.
 */
public final class GridRunner {
    /** Progress of the grid, in training examples (x epochs) of the runs this invocation does. */
    public interface Listener {
        default void started(int runs, int pending, long work) {
        }

        /** Run {@code index} (1-based) of the {@code pending} ones is under way; {@code workDone} so far in all. */
        default void progress(int index, int pending, GridRun run, long workDone) {
        }
    }

    /** A run that ended without a summary, with the reason in one line. */
    public record Failure(GridRun run, String message) {
    }

    private static final String ERROR_PREFIX = "dynalora: error: ";

    private final GridSettings s;
    private final Path out;
    private final String mainClass;
    private final Map<String, Integer> trainExamples;
    private final long pollMillis;

    /**
     * @param trainExamples per task, the number of training examples a run uses (after --limit-for)
     * @param mainClass     the CLI's main class, run in the children
     */
    public GridRunner(GridSettings s, Path out, String mainClass, Map<String, Integer> trainExamples, long pollMillis) {
        this.s = s;
        this.out = out;
        this.mainClass = mainClass;
        this.trainExamples = trainExamples;
        this.pollMillis = pollMillis;
    }

    public Path runDir(GridRun r) {
        return out.resolve(r.dirName());
    }

    public Path log(GridRun r) {
        return out.resolve("logs").resolve(r.dirName() + ".log");
    }

    long work(GridRun r) {
        return (long) trainExamples.get(r.task()) * s.epochsOf(r.task());
    }

    /** Runs every incomplete run; returns those that failed. */
    public List<Failure> run(Listener listener) {
        List<GridRun> pending = s.runs().stream().filter(r -> !RunState.read(runDir(r)).complete()).toList();
        listener.started(s.runs().size(), pending.size(), pending.stream().mapToLong(this::work).sum());
        List<Failure> failures = new ArrayList<>();
        long done = 0;
        for (int i = 0; i < pending.size(); i++) {
            GridRun r = pending.get(i);
            int index = i + 1;
            long before = done;
            Path dir = runDir(r);
            listener.progress(index, pending.size(), r, before);
            Failure f = runOne(r, () -> listener.progress(index, pending.size(), r,
                    before + Math.min(work(r), RunState.read(dir).lastStep() * s.batch())));
            if (f != null) {
                failures.add(f);
            }
            done += work(r);
            listener.progress(index, pending.size(), r, done);
        }
        return failures;
    }

    /**
     * Does one run of the grid (whatever else runs beside it: dynalora-spark runs several at once, one per Spark
     * task): resumes it from its checkpoint, or trains it afresh, in a child JVM; returns why it failed, or null.
     * Doing it again after any failure or interruption is safe, which is what lets Spark retry it.
     */
    public Failure runOne(GridRun r, Runnable tick) {
        Path dir = runDir(r);
        int exit = -1;
        // A run interrupted with a checkpoint (Ctrl-C, SIGTERM, --save-every) goes on from it rather than
        // losing its steps; if that resume fails, the run starts again from the beginning.
        if (Files.isRegularFile(dir.resolve(RunFolder.CHECKPOINT))) {
            exit = ChildRunner.logged(ChildJava.command(mainClass, s.resumeArgs(dir)), log(r), tick, pollMillis);
        }
        if (!RunState.read(dir).complete()) {
            discardStaleMetrics(dir);
            exit = ChildRunner.logged(ChildJava.command(mainClass, s.trainArgs(r, dir)), log(r), tick, pollMillis);
        }
        RunState state = RunState.read(dir);
        return state.complete() ? null : new Failure(r, reason(exit, state, log(r)));
    }

    /**
     * The metrics of an earlier, incomplete attempt would be read as this attempt's progress until train
     * replaces them (it does so with --overwrite anyway).
     */
    private static void discardStaleMetrics(Path dir) {
        try {
            Files.deleteIfExists(dir.resolve(RunFolder.METRICS));
        } catch (IOException e) {
            throw new UserInputException("cannot remove " + dir.resolve(RunFolder.METRICS) + ": " + e.getMessage());
        }
    }

    /** Why a run has no summary: its divergence record, the CLI's error line in its log, or its exit code. */
    static String reason(int exit, RunState state, Path log) {
        if (state.diverged() != null) {
            return "diverged at step " + state.diverged().path("step").asLong() + " (loss " + state.diverged().path("loss").asText() + ")";
        }
        String last = "";
        try {
            for (String line : Files.readAllLines(log, StandardCharsets.UTF_8)) {
                if (line.startsWith(ERROR_PREFIX)) {
                    return line.substring(ERROR_PREFIX.length());
                }
                if (!line.isBlank()) {
                    last = line.strip();
                }
            }
        } catch (IOException e) {
            last = "(log unreadable: " + e.getMessage() + ")";
        }
        if (last.length() > 200) {
            last = last.substring(0, 200) + "...";
        }
        return "exit code " + exit + (last.isEmpty() ? "" : "; last output: " + last);
    }
}
