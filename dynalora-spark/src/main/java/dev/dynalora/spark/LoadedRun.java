package dev.dynalora.spark;

import dev.dynalora.UserInputException;
import dev.dynalora.data.Example;
import dev.dynalora.data.GlueTask;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.tokenize.TextTokenizer;
import dev.dynalora.training.CausalLmRuns;
import dev.dynalora.training.EncodedExamples;
import dev.dynalora.training.GlueTrainer;
import dev.dynalora.training.Predictor;
import dev.dynalora.training.RunFolder;
import dev.dynalora.training.TrainConfig;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A run folder's classifier loaded for inference, once per JVM: an executor's tasks share it (the cache is
 * static and keyed by the run folder and the thread count), so a partition, or a retried task, never reloads
 * the model. The model keeps its activations in per-model buffers, so forward passes take turns ({@link #logits}
 * is synchronized); each pass uses {@code threads} compute threads, which is how an executor's cores are used.
 * The same calls as {@code dynalora predict}: {@link GlueTrainer#build}, {@link RunFolder#loadTrainable},
 * {@link EncodedExamples} and {@link Predictor#logits}.
 */
final class LoadedRun {
    private static final Map<String, LoadedRun> CACHE = new ConcurrentHashMap<>();
    private static final Map<String, AtomicInteger> LOADS = new ConcurrentHashMap<>();

    final GlueTask task;
    final int numLabels;
    private final GlueTrainer.Built built;
    private final TextTokenizer tokenizer;
    private final CpuKernels kernels;

    private LoadedRun(Path runDir, int threads) {
        RunFolder run = RunFolder.open(runDir);
        TrainConfig c = checkClassifierRun(runDir, run);
        built = GlueTrainer.build(c);
        run.loadTrainable(built.trainable(), built.model());
        task = built.task();
        numLabels = built.model().numLabels();
        tokenizer = TextTokenizer.load(Path.of(c.model()), c.maxLen());
        kernels = new CpuKernels(threads);
    }

    /** The run's configuration, refused with predict's message when it is a causal LM run. */
    static TrainConfig checkClassifierRun(Path runDir, RunFolder run) {
        TrainConfig c = run.readConfig();
        if (CausalLmRuns.isCausalTask(c.task())) {
            throw new UserInputException(runDir + " is a " + c.task() + " run of a causal LM; spark predict labels"
                    + " sentences with a GLUE classifier run (for its completions use DynaloraSpark.generate with the run"
                    + " folder as the adapter)");
        }
        return c;
    }

    /** The model of {@code runDir} in this JVM, loading it on first use. */
    static LoadedRun get(String runDir, int threads) {
        return CACHE.computeIfAbsent(runDir + "\u0000" + threads, k -> {
            LOADS.computeIfAbsent(runDir, d -> new AtomicInteger()).incrementAndGet();
            return new LoadedRun(Path.of(runDir), threads);
        });
    }

    /** How many times this JVM loaded the run in {@code runDir} (tests check: once, whatever the partitions and jobs). */
    static int loads(Path runDir) {
        AtomicInteger n = LOADS.get(runDir.toAbsolutePath().normalize().toString());
        return n == null ? 0 : n.get();
    }

    /** Drops and closes every cached model (tests; a long-lived driver that is done with a run). */
    static synchronized void clear() {
        for (LoadedRun r : CACHE.values()) {
            r.tokenizer.close();
            r.kernels.close();
        }
        CACHE.clear();
    }

    /** Tokenizes (outside the model's lock) and runs the classifier: logits [n, numLabels] in input order. */
    float[] logits(List<Example> examples, int batch) {
        EncodedExamples data = new EncodedExamples(examples, tokenizer);
        synchronized (this) {
            return Predictor.logits(kernels, built.model(), data, batch, null);
        }
    }
}
