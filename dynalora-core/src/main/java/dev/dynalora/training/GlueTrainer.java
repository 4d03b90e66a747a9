package dev.dynalora.training;

import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.data.BatchPlanner;
import dev.dynalora.data.Example;
import dev.dynalora.data.GlueReader;
import dev.dynalora.data.GlueTask;
import dev.dynalora.data.PaddedBatch;
import dev.dynalora.evaluation.TaskMetrics;
import dev.dynalora.kernels.Kernels;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.UserInputException;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.models.LinearModule;
import dev.dynalora.formats.peft.PeftAdapters;
import dev.dynalora.models.PretrainedBert;
import dev.dynalora.models.SequenceClassifier;
import dev.dynalora.tensor.Param;
import dev.dynalora.tokenize.TextTokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongConsumer;

/**
 * Fine-tunes a pretrained encoder on a GLUE task: tokenizes once, trains with length-bucketed batches,
 * AdamW and a linear warm-up/decay schedule, evaluates on dev after each epoch and records everything in
 * the run folder.
 */
public final class GlueTrainer {
    private final TrainConfig config;
    private final Kernels kernels;
    private final TrainingListener listener;

    public GlueTrainer(TrainConfig config, Kernels kernels, TrainingListener listener) {
        config.validate();
        this.config = config;
        this.kernels = kernels;
        this.listener = listener == null ? TrainingListener.NONE : listener;
    }

    /** The model a run trains, with the run's method applied; also used by eval and predict. */
    public static Built build(TrainConfig c) {
        GlueTask task = GlueTask.parse(c.task());
        Method method = Method.parse(c.method());
        SequenceClassifier model = PretrainedBert.loadClassifier(Path.of(c.model()), task.numLabels(), c.seed());
        int positions = model.encoder().config().maxPositionEmbeddings();
        if (c.maxLen() > positions) {
            // Refused here, before the memory estimate and before any data is read: a longer example would
            // otherwise fail mid-run, and the estimate for an impossible length is a meaningless heap size.
            throw new UserInputException("--max-len " + c.maxLen() + " exceeds the model's max_position_embeddings "
                    + positions + "; use --max-len " + positions + " or less");
        }
        LoraConfig lora = method.usesAdapters()
                ? LoraConfig.of(c.rank(), c.alpha(), c.targets(), c.rsLora(), c.loraDropout(), c.seed()) : null;
        List<Param> trainable = MethodSetup.apply(model, method, lora, c.adaptive());
        return new Built(task, method, model, lora, trainable);
    }

    public record Built(GlueTask task, Method method, SequenceClassifier model, LoraConfig lora, List<Param> trainable) {
    }

    /** A run's data, read and tokenized: the train split and the first dev split. */
    public record Data(List<Example> train, List<Example> dev, String devSplit, EncodedExamples trainSet,
                       EncodedExamples devSet) {
    }

    /**
     * Reads and tokenizes the run's data. The CLI calls this before it creates the run folder, so that a
     * missing or malformed data file, tokenizer or task folder fails without leaving anything behind.
     */
    public static Data loadData(TrainConfig c, GlueTask task) {
        Path data = Path.of(c.data());
        List<Example> train = GlueReader.read(data, task, "train", c.trainLimit());
        String devSplit = task.devSplits().get(0);
        List<Example> dev = GlueReader.read(data, task, devSplit, c.evalLimit());
        try (TextTokenizer tok = TextTokenizer.load(Path.of(c.model()), c.maxLen())) {
            return new Data(train, dev, devSplit, new EncodedExamples(train, tok), new EncodedExamples(dev, tok));
        }
    }

    /**
     * Memory guard: the worst case (every batch padded to --max-len) must fit the heap; otherwise stop before
     * anything is written, with the estimate and a remedy, instead of an OutOfMemoryError mid-run.
     */
    public static void checkMemory(Built built, TrainConfig c) {
        MemoryEstimate.check(MemoryEstimate.bytes(built.model().encoder().config(), c.batch(), c.maxLen(),
                MethodSetup.count(built.trainable()), true), Runtime.getRuntime().maxMemory(), c.batch(), c.maxLen());
    }

    /** Dev-set metrics of a model. */
    public static Map<String, Double> evaluate(Kernels k, SequenceClassifier model, GlueTask task, EncodedExamples dev, int batch) {
        return evaluate(k, model, task, dev, batch, null);
    }

    /** As {@link #evaluate(Kernels, SequenceClassifier, GlueTask, EncodedExamples, int)}, reporting examples done to {@code progress} (may be null). */
    public static Map<String, Double> evaluate(Kernels k, SequenceClassifier model, GlueTask task, EncodedExamples dev, int batch,
                                               LongConsumer progress) {
        float[] logits = Predictor.logits(k, model, dev, batch, progress);
        if (task.isRegression()) {
            return TaskMetrics.compute(task, logits, dev.examples());
        }
        return TaskMetrics.compute(task, TaskMetrics.argmax(logits, model.numLabels()), dev.examples());
    }

    /**
     * Writes the PEFT adapter files for adapter methods; returns what was written (or why not). AdaLoRA's file
     * records the schedule the run's allocator used, so it takes the run's hooks.
     */
    static String exportAdapter(RunFolder run, Built built, TrainConfig c, StepHooks hooks) {
        if (!built.method().usesAdapters()) {
            return "none (method " + built.method().cliName() + " has no adapter)";
        }
        if (hooks instanceof AdaptiveHooks.AdaLoraHooks ada) {
            PeftAdapters.saveAdaLora(run.dir(), built.model(), built.lora(), ada.allocator().config(), c.model());
            return "peft";
        }
        PeftAdapters.save(run.dir(), built.model(), built.lora(), c.model(), Map.of());
        return "peft";
    }

    /**
     * Null, or why the PEFT adapter files of a gated Dynamic LoRA model do not reproduce it: Python PEFT has no
     * input gate, drops the lora_gate.* tensors (reporting them only as unexpected keys in a return value, no
     * warning) and so builds a different model. Said in the run summary and on standard error.
     */
    public static String peftGateWarning(Built built) {
        if (!built.method().usesAdapters()) {
            return null;
        }
        for (LinearModule m : built.model().linearModules()) {
            if (m.adapter() instanceof LoraAdapter a && a.gated()) {
                return "the adapter's input gates are saved under lora_gate.* keys, which Python PEFT does not load,"
                        + " so PEFT builds a different model from adapter_model.safetensors than dynalora's; train"
                        + " with --no-gate for an adapter that PEFT reproduces exactly";
            }
        }
        return null;
    }

    public Map<String, Object> run(RunFolder run) {
        Built built = build(config);
        return run(run, built, loadData(config, built.task()));
    }

    /** Trains the model built from this trainer's configuration (see {@link #build}) on its data ({@link #loadData}). */
    public Map<String, Object> run(RunFolder run, Built built, Data data) {
        run.writeConfig(config);
        return train(run, built, data, false);
    }

    /**
     * Continues the run in {@code run} from its checkpoint, with the model built from this trainer's
     * configuration (the run's own, possibly with a new --lr, --max-grad-norm, --threads or --save-every).
     * metrics.jsonl and allocation.jsonl are first cut back to where the checkpoint was taken, so that a run
     * resumed with an unchanged configuration writes exactly the files an uninterrupted run writes (timings
     * aside).
     *
     * @throws UserInputException if there is no checkpoint, the run has finished, or the checkpoint does not
     *     fit the configuration and data
     */
    public Map<String, Object> resume(RunFolder run, Built built, Data data) {
        if (!run.hasCheckpoint()) {
            throw new UserInputException(run.dir() + " has no checkpoint to resume from (" + RunFolder.CHECKPOINT
                    + " is written every --save-every steps and at each epoch end)");
        }
        if (run.finished()) {
            throw new UserInputException("the run in " + run.dir() + " has already finished; nothing to resume");
        }
        return train(run, built, data, true);
    }

    private Map<String, Object> train(RunFolder run, Built built, Data data, boolean resume) {
        TrainConfig c = config;
        GlueTask task = built.task();
        List<Example> train = data.train();
        List<Example> dev = data.dev();
        String devSplit = data.devSplit();
        EncodedExamples trainSet = data.trainSet();
        EncodedExamples devSet = data.devSet();
        SequenceClassifier model = built.model();
        List<Param> params = built.trainable();

        long stepsPerEpoch = (train.size() + c.batch() - 1) / c.batch();
        long total = stepsPerEpoch * c.epochs();
        LinearSchedule schedule = new LinearSchedule(c.lr(), Math.round(total * (double) c.warmupRatio()), total);
        AdamW opt = MethodSetup.optimizer(model, params, built.method(), c.weightDecay(), c.adaptive());
        ClassifierStep stepper = new ClassifierStep(model, params, opt, c.maxGradNorm());
        StepHooks hooks = AdaptiveHooks.create(built.method(), model, c.rank(), c.adaptive(), total);
        stepper.setHooks(hooks);
        long trainableCount = MethodSetup.count(params);
        long totalCount = MethodSetup.count(model.allParams());

        TrainingProgress p = new TrainingProgress();
        if (resume) {
            Checkpoint.Restored from = Checkpoint.restore(run.checkpoint(), params, opt, hooks, train.size(), total);
            p = from.progress();
            run.removeTemporaries();
            for (String log : List.of(RunFolder.METRICS, RunFolder.ALLOCATION)) {
                run.truncate(log, from.logSizes().getOrDefault(log, 0L));
            }
            recordChanges(run, from.config(), c, p.step);
            run.writeConfig(c);
        }
        Checkpointer checkpoints = new Checkpointer(run, c, params, opt, hooks, train.size(), total, resume ? p.step : -1);
        listener.started(total, train.size(), dev.size());
        if (resume) {
            listener.resumed(p.step);
        }

        String primary = TaskMetrics.primary(task);
        for (int epoch = p.epoch; epoch < c.epochs(); epoch++) {
            long windowTokens = 0;
            long windowStart = System.nanoTime();
            // The plan is a pure function of (seed, epoch): a resumed run recomputes it and skips what was done.
            List<int[]> plan = BatchPlanner.trainBatches(trainSet.lengths(), c.batch(), c.seed(), epoch);
            for (int bi = p.batchInEpoch; bi < plan.size(); bi++) {
                int[] idx = plan.get(bi);
                long t0 = System.nanoTime();
                PaddedBatch b = trainSet.batch(idx);
                float lr = schedule.lr(p.step);
                ClassifierStep.Result r = stepper.step(kernels, b, trainSet.labels(idx), trainSet.targets(idx), lr, c.seed(), p.step);
                p.trainSeconds += (System.nanoTime() - t0) / 1e9;
                long batchTokens = (long) b.batch() * b.seqLen();
                p.tokens += batchTokens;
                windowTokens += batchTokens;
                p.step++;
                p.batchInEpoch = bi + 1;
                p.lossSum += r.loss();
                p.lossCount++;
                long step = p.step;
                if (!Float.isFinite(r.loss()) || !Double.isFinite(r.gradNorm())) {
                    checkpoints.discardPending();
                    throw diverged(run, step, "loss " + r.loss() + ", gradient norm " + r.gradNorm(), r.loss(), r.gradNorm(), lr,
                            c.lr(), checkpoints.confirmedStep());
                }
                checkpoints.stepSucceeded();
                if (step % c.logEvery() == 0 || step == total) {
                    double secs = (System.nanoTime() - windowStart) / 1e9;
                    double tps = windowTokens / Math.max(secs, 1e-9);
                    Map<String, Object> rec = new LinkedHashMap<>();
                    rec.put("type", "train");
                    rec.put("step", step);
                    rec.put("epoch", epoch + (double) p.lossCount / stepsPerEpoch);
                    rec.put("loss", p.lossSum / p.lossCount);
                    rec.put("lr", lr);
                    rec.put("grad_norm", r.gradNorm());
                    rec.put("tokens_per_s", Math.round(tps));
                    run.append(RunFolder.METRICS, rec);
                    ObjectNode alloc = hooks.record(step - 1);
                    if (alloc != null) {
                        run.append(RunFolder.ALLOCATION, alloc);
                    }
                    listener.step(step, (float) (p.lossSum / p.lossCount), lr, tps);
                    windowTokens = 0;
                    windowStart = System.nanoTime();
                }
                // The last batch of an epoch is saved after its evaluation, below.
                if (c.saveEvery() > 0 && step % c.saveEvery() == 0 && bi + 1 < plan.size()) {
                    save(checkpoints, run, p, lr, c.lr());
                }
                if (bi + 1 < plan.size() && listener.stopRequested()) {
                    stopHere(checkpoints, run, p, lr, c.lr(), total);
                }
            }
            listener.evaluating(epoch + 1, dev.size());
            Map<String, Double> metrics = evaluate(kernels, model, task, devSet, Math.max(c.batch(), 32));
            p.evaluated(metrics, primary);
            Map<String, Object> rec = new LinkedHashMap<>();
            rec.put("type", "eval");
            rec.put("epoch", epoch + 1);
            rec.put("step", p.step);
            rec.put("split", devSplit);
            rec.put("train_loss", p.lossSum / Math.max(1, p.lossCount));
            rec.put("metrics", metrics);
            run.append(RunFolder.METRICS, rec);
            listener.evaluated(epoch + 1, metrics);
            p.endEpoch();
            save(checkpoints, run, p, schedule.lr(p.step - 1), c.lr());
            if (epoch + 1 < c.epochs() && listener.stopRequested()) {
                stopHere(checkpoints, run, p, schedule.lr(p.step - 1), c.lr(), total);
            }
        }
        checkpoints.finish();
        run.saveTrainable(params, model);
        String adapterExport = exportAdapter(run, built, c, hooks);
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("type", "summary");
        summary.put("model", c.model());
        summary.put("task", task.cliName());
        summary.put("method", built.method().cliName());
        summary.put("trainable_params", trainableCount);
        summary.put("active_trainable_params", ActiveParams.count(model, params));
        summary.put("adapter_export", adapterExport);
        String gateWarning = peftGateWarning(built);
        if (gateWarning != null) {
            summary.put("adapter_warning", gateWarning);
        }
        summary.put("total_params", totalCount);
        summary.put("steps", p.step);
        summary.put("train_time_s", Math.round(p.trainSeconds * 10) / 10.0);
        summary.put("tokens_per_s", Math.round(p.tokens / Math.max(p.trainSeconds, 1e-9)));
        summary.put("best", p.best);
        summary.put("final", p.last);
        run.append(RunFolder.METRICS, summary);
        return summary;
    }

    /** Checkpoints the state after step {@code p.step}; a state gone non-finite stops the run as diverged. */
    private static void save(Checkpointer checkpoints, RunFolder run, TrainingProgress p, float lr, float peakLr) {
        String bad = checkpoints.save(p);
        if (bad != null) {
            throw diverged(run, p.step, "non-finite values in " + bad, Float.NaN, Double.NaN, lr, peakLr,
                    checkpoints.confirmedStep());
        }
    }

    /**
     * Stops on the user's request after a finished step: its state becomes the run's checkpoint at once (a
     * LoRA checkpoint is a few MB, a second at most even for full fine-tuning), so the resume loses nothing.
     * It is published without waiting for a next step to confirm it finite (see {@link Checkpointer}): the user
     * asked to stop, and the step that produced it was finite.
     */
    private static void stopHere(Checkpointer checkpoints, RunFolder run, TrainingProgress p, float lr, float peakLr,
                                 long total) {
        if (checkpoints.pendingStep() != p.step && checkpoints.confirmedStep() != p.step) {
            save(checkpoints, run, p, lr, peakLr);
        }
        checkpoints.finish();
        throw new TrainingInterruptedException(p.step, total, run.dir());
    }

    /** Logs the diverged record (never a checkpoint) and builds the error the run stops with. */
    private static TrainingDivergedException diverged(RunFolder run, long step, String what, float loss, double gradNorm,
                                                      float lr, float peakLr, long checkpointStep) {
        Map<String, Object> rec = new LinkedHashMap<>();
        rec.put("type", "diverged");
        rec.put("step", step);
        rec.put("loss", Float.toString(loss));
        rec.put("grad_norm", Double.toString(gradNorm));
        rec.put("lr", Float.isFinite(lr) ? lr : null);
        rec.put("reason", what);
        rec.put("checkpoint_step", checkpointStep < 0 ? null : checkpointStep);
        run.append(RunFolder.METRICS, rec);
        return new TrainingDivergedException(step, what, checkpointStep, run.dir(), peakLr);
    }

    /**
     * A "resumed" record when a resume changes the configuration (a lower --lr after a divergence, another
     * --threads), so that metrics.jsonl tells which steps ran with what; nothing when nothing changed, so an
     * interrupted and resumed run leaves the same files as an uninterrupted one.
     */
    private static void recordChanges(RunFolder run, JsonNode before, TrainConfig after, long step) {
        JsonNode now;
        try {
            // Through text, as the checkpoint's copy went: a float and the double read back are different nodes.
            now = RunFolder.JSON.readTree(RunFolder.JSON.writeValueAsString(after));
        } catch (IOException e) {
            throw new UncheckedIOException(e); // cannot happen for a record of plain values
        }
        Map<String, Object> changes = new LinkedHashMap<>();
        for (Iterator<String> it = now.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!now.get(k).equals(before.get(k))) {
                Map<String, Object> change = new LinkedHashMap<>();
                change.put("from", before.get(k));
                change.put("to", now.get(k));
                changes.put(k, change);
            }
        }
        if (!changes.isEmpty()) {
            Map<String, Object> rec = new LinkedHashMap<>();
            rec.put("type", "resumed");
            rec.put("step", step);
            rec.put("changed", changes);
            run.append(RunFolder.METRICS, rec);
        }
    }
}
