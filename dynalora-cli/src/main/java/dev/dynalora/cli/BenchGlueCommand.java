package dev.dynalora.cli;

import dev.dynalora.UserInputException;
import dev.dynalora.cli.bench.GridFolder;
import dev.dynalora.cli.bench.GridResults;
import dev.dynalora.cli.bench.GridRun;
import dev.dynalora.cli.bench.GridRunner;
import dev.dynalora.cli.bench.GridSettings;
import dev.dynalora.cli.bench.GridTable;
import dev.dynalora.data.GlueReader;
import dev.dynalora.data.GlueTask;
import dev.dynalora.formats.AtomicFiles;
import dev.dynalora.models.CheckpointWeights;
import dev.dynalora.models.bert.PretrainedBert;
import dev.dynalora.training.Method;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.UnaryOperator;

/**
 * dynalora bench glue: the grid of GLUE runs (tasks x methods x learning rates x seeds), each a normal train run
 * folder OUT/&lt;task&gt;-&lt;method&gt;-s&lt;seed&gt; (OUT/&lt;task&gt;-&lt;method&gt;-lr&lt;rate&gt;-s&lt;seed&gt; for a method with several
 * rates), then OUT/results.md and OUT/results.json: each method at the rate with its best average, every rate's
 * average, the paired comparison with --baseline, parameters and time. Re-running the same command skips the
 * runs that are complete (their metrics.jsonl has a summary) and redoes the others, so an interrupted grid
 * continues where it stopped.
 */
@Command(name = "glue", mixinStandardHelpOptions = true,
        description = "Run a grid of GLUE fine-tuning runs (resumable) and tabulate mean ± std over seeds.")
public class BenchGlueCommand implements Callable<Integer> {
    /** How often the progress bar looks at the running run's metrics.jsonl. */
    private static final long POLL_MILLIS = 2000;

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face BERT model folder.")
    Path model;

    @Option(names = "--data", required = true, paramLabel = "DIR", description = "GLUE folder (original TSV layout).")
    Path data;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Grid folder (created, or resumed).")
    Path out;

    @Option(names = "--table-only", description = "Run nothing: tabulate the runs of this grid that are complete so far "
            + "(for example while the grid is still running elsewhere) into results.md / results.json.")
    boolean tableOnly;

    @Option(names = "--tasks", defaultValue = "cola,sst2,mrpc,stsb,rte", description = "Comma-separated GLUE tasks. Default: ${DEFAULT-VALUE}.")
    String tasks;

    @Option(names = "--methods", defaultValue = "head,full,lora,adalora,dynamic", description = "Comma-separated methods. Default: ${DEFAULT-VALUE}.")
    String methods;

    @Option(names = "--seeds", defaultValue = "3", description = "Seeds 1..N of every task and method. Default: ${DEFAULT-VALUE}.")
    int seeds;

    @Option(names = "--epochs", defaultValue = "3", description = "Default: ${DEFAULT-VALUE}.")
    int epochs;

    @Option(names = "--epochs-for", paramLabel = "TASK=N", description = "Epochs of one task (repeatable), e.g. sst2=1.")
    Map<String, Integer> epochsFor = new LinkedHashMap<>();

    @Option(names = "--limit-for", paramLabel = "TASK=N", description = "First N training examples of one task (repeatable), e.g. sst2=20000.")
    Map<String, Integer> limitFor = new LinkedHashMap<>();

    @Option(names = "--eval-limit", defaultValue = "0", description = "First N dev examples of every task (0: all; for quick trials).")
    int evalLimit;

    @Option(names = "--max-len", defaultValue = "128", description = "Default: ${DEFAULT-VALUE}.")
    int maxLen;

    @Option(names = "--batch", defaultValue = "32", description = "Default: ${DEFAULT-VALUE}.")
    int batch;

    @Option(names = "--rank", defaultValue = "8", description = "LoRA rank (AdaLoRA target rank, Dynamic LoRA mean rank). Default: ${DEFAULT-VALUE}.")
    int rank;

    @Option(names = {"--lr-for", "--lrs-for"}, paramLabel = "METHOD=X[,Y...]", description = "Peak learning rate of one method"
            + " (repeatable), or a comma-separated grid of rates, each of which runs; the tables then report each method"
            + " at its rate with the best average. Default: train's (5e-4 adapters and head, 5e-5 full).")
    Map<String, String> lrFor = new LinkedHashMap<>();

    @Option(names = "--targets", paramLabel = "MODULES", description = "--targets of every adapter run (names, one regex,"
            + " or all-linear). Default: train's (query,value for BERT).")
    String targets;

    @Option(names = "--baseline", paramLabel = "METHOD", description = "The method every other one is compared with,"
            + " paired by task and seed (wins, mean difference, sign test). Default: lora when it is in --methods.")
    String baseline;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() {
        GridSettings s = settings();
        String base = baselineMethod(s);
        Map<String, Integer> trainExamples = checkData(s);
        PretrainedBert.bertConfig(Path.of(s.model()));
        CheckpointWeights.file(Path.of(s.model()));
        if (tableOnly && !Files.isRegularFile(out.resolve(GridSettings.FILE))) {
            throw new UserInputException(out + " holds no grid (" + GridSettings.FILE + " is missing); --table-only needs one");
        }
        GridFolder.prepare(out, s);
        GridRunner runner = new GridRunner(s, out, Main.class.getName(), trainExamples, POLL_MILLIS);
        if (tableOnly) {
            GridResults partial = GridResults.collect(s, runner, List.of(), true, base);
            String md = GridTable.markdown(partial);
            AtomicFiles.writeString(out.resolve("results.json"), partial.toJson().toPrettyString() + "\n");
            AtomicFiles.writeString(out.resolve("results.md"), md);
            System.out.print(md);
            System.out.flush();
            return 0;
        }
        List<GridRunner.Failure> failures = runPending(runner, s, out);
        GridResults results = GridResults.collect(s, runner, failures, false, base);
        String md = GridTable.markdown(results);
        AtomicFiles.writeString(out.resolve("results.json"), results.toJson().toPrettyString() + "\n");
        AtomicFiles.writeString(out.resolve("results.md"), md);
        System.out.print(md);
        System.out.flush();
        if (!failures.isEmpty()) {
            GridRunner.Failure f = failures.get(0);
            throw new UserInputException(failures.size() + " of " + s.runs().size() + " runs failed (first: " + f.run().dirName()
                    + ": " + f.message() + "); logs in " + out.resolve("logs") + "; run the same command again to retry them");
        }
        return 0;
    }

    /**
     * Runs the grid's incomplete runs and returns those that failed: one after the other here, with a progress
     * bar; dynalora-spark's {@code spark glue} runs them as Spark tasks instead.
     */
    protected List<GridRunner.Failure> runPending(GridRunner runner, GridSettings s, Path out) {
        try (ProgressListener progress = new ProgressListener()) {
            return runner.run(progress);
        }
    }

    GridSettings settings() {
        List<String> taskNames = names(tasks, "--tasks", t -> GlueTask.parse(t).id());
        List<String> methodNames = names(methods, "--methods", m -> Method.parse(m).id());
        require(seeds >= 1 && seeds <= 100, "--seeds must be between 1 and 100");
        require(epochs >= 1, "--epochs must be at least 1");
        require(batch >= 1, "--batch must be at least 1");
        require(maxLen >= 8, "--max-len must be at least 8");
        require(rank >= 1, "--rank must be at least 1");
        require(evalLimit >= 0, "--eval-limit must be >= 0");
        Map<String, Integer> ef = perTask(epochsFor, "--epochs-for", taskNames);
        ef.values().forEach(v -> require(v >= 1, "--epochs-for values must be at least 1"));
        Map<String, Integer> lf = perTask(limitFor, "--limit-for", taskNames);
        lf.values().forEach(v -> require(v >= 0, "--limit-for values must be >= 0 (0: all)"));
        Map<String, List<Double>> lr = new LinkedHashMap<>();
        for (String m : methodNames) {
            lr.put(m, List.of(Method.parse(m).defaultLearningRate()));
        }
        for (Map.Entry<String, String> e : lrFor.entrySet()) {
            String m = Method.parse(e.getKey()).id();
            require(lr.containsKey(m), "--lr-for names method " + m + ", which is not in --methods");
            lr.put(m, rates(e.getValue(), m));
        }
        if (targets != null) {
            require(!targets.isBlank(), "--targets is empty: name the modules to adapt, e.g. query,value or all-linear");
            require(methodNames.stream().anyMatch(m -> Method.parse(m).usesAdapters()),
                    "--targets is given but none of --methods uses adapters");
        }
        return new GridSettings(model.toAbsolutePath().normalize().toString(), data.toAbsolutePath().normalize().toString(),
                taskNames, methodNames, seeds, epochs, ef, lf, evalLimit, maxLen, batch, rank,
                targets == null ? null : targets.strip(), threads.resolve(), lr);
    }

    /** The method the others are compared with: --baseline, or lora when it is in the grid, or none. */
    String baselineMethod(GridSettings s) {
        if (baseline == null) {
            return s.methods().contains("lora") ? "lora" : null;
        }
        String b = Method.parse(baseline).id();
        require(s.methods().contains(b), "--baseline " + b + " is not in --methods");
        return b;
    }

    /** One method's --lr-for value: a rate or a comma-separated list of distinct positive rates. */
    private static List<Double> rates(String list, String method) {
        List<Double> out = new ArrayList<>();
        for (String raw : list.split(",", -1)) {
            double v;
            try {
                v = Double.parseDouble(raw.strip());
            } catch (NumberFormatException e) {
                throw new UserInputException("--lr-for " + method + "=" + list + ": '" + raw.strip() + "' is not a number");
            }
            require(v > 0 && Double.isFinite(v), "--lr-for values must be positive numbers");
            require(!out.contains(v), "--lr-for " + method + " names the rate " + raw.strip() + " twice");
            out.add(v);
        }
        return out;
    }

    /**
     * Reads each task's training and dev files once before anything is written, so that a missing or malformed
     * file stops the grid at once rather than failing every run of that task; returns the number of training
     * examples each run of a task uses (for the progress bar).
     */
    private static Map<String, Integer> checkData(GridSettings s) {
        Map<String, Integer> n = new LinkedHashMap<>();
        Path dir = Path.of(s.data());
        for (String task : s.tasks()) {
            GlueTask t = GlueTask.parse(task);
            n.put(task, GlueReader.read(dir, t, "train", s.limitOf(task)).size());
            GlueReader.read(dir, t, t.devSplits().get(0), s.evalLimit());
        }
        return n;
    }

    private static List<String> names(String list, String flag, UnaryOperator<String> canonical) {
        List<String> names = new ArrayList<>();
        for (String raw : list.split(",")) {
            if (raw.isBlank()) {
                continue;
            }
            String name = canonical.apply(raw.strip());
            require(!names.contains(name), flag + " names " + name + " twice");
            names.add(name);
        }
        require(!names.isEmpty(), flag + " is empty");
        return names;
    }

    private static Map<String, Integer> perTask(Map<String, Integer> given, String flag, List<String> taskNames) {
        Map<String, Integer> m = new LinkedHashMap<>();
        for (Map.Entry<String, Integer> e : given.entrySet()) {
            String t = GlueTask.parse(e.getKey()).id();
            require(taskNames.contains(t), flag + " names task " + t + ", which is not in --tasks");
            m.put(t, e.getValue());
        }
        return m;
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new UserInputException(message);
        }
    }

    /** The suite's progress bar: training examples of this invocation's runs, and which run of the grid is on. */
    static final class ProgressListener implements GridRunner.Listener, AutoCloseable {
        private Progress bar;
        private int skipped;
        private int runs;

        @Override
        public void started(int runs, int pending, long work) {
            this.runs = runs;
            this.skipped = runs - pending;
            if (pending > 0) {
                bar = Progress.start("glue", Math.max(1, work), "examples");
            }
        }

        @Override
        public void progress(int index, int pending, GridRun run, long workDone) {
            bar.stepTo(workDone, " run " + (skipped + index) + "/" + runs + " " + run.dirName());
        }

        @Override
        public void close() {
            if (bar != null) {
                bar.close();
            }
        }
    }
}
