package dev.dynalora.training;

import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.data.BatchPlanner;
import dev.dynalora.data.Example;
import dev.dynalora.data.GlueReader;
import dev.dynalora.data.GlueTask;
import dev.dynalora.data.PaddedBatch;
import dev.dynalora.evaluation.TaskMetrics;
import dev.dynalora.kernels.Kernels;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.models.PeftAdapterIO;
import dev.dynalora.models.PretrainedBert;
import dev.dynalora.models.SequenceClassifier;
import dev.dynalora.tensor.Param;
import dev.dynalora.tokenize.TextTokenizer;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

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
        LoraConfig lora = method.usesAdapters()
                ? LoraConfig.of(c.rank(), c.alpha(), c.targets(), c.rsLora(), c.loraDropout(), c.seed()) : null;
        List<Param> trainable = MethodSetup.apply(model, method, lora, c.adaptive());
        return new Built(task, method, model, lora, trainable);
    }

    public record Built(GlueTask task, Method method, SequenceClassifier model, LoraConfig lora, List<Param> trainable) {
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
        float[] logits = Predictor.logits(k, model, dev, batch, null);
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
            PeftAdapterIO.saveAdaLora(run.dir(), built.model(), built.lora(), ada.allocator().config(), c.model());
            return "peft";
        }
        PeftAdapterIO.save(run.dir(), built.model(), built.lora(), c.model(), Map.of());
        return "peft";
    }

    public Map<String, Object> run(RunFolder run) {
        return run(run, build(config));
    }

    /** Trains the model built from this trainer's configuration (see {@link #build}). */
    public Map<String, Object> run(RunFolder run, Built built) {
        TrainConfig c = config;
        run.writeConfig(c);
        GlueTask task = built.task();
        Path data = Path.of(c.data());
        List<Example> train = GlueReader.read(data, task, "train", c.trainLimit());
        String devSplit = task.devSplits().get(0);
        List<Example> dev = GlueReader.read(data, task, devSplit, c.evalLimit());
        EncodedExamples trainSet;
        EncodedExamples devSet;
        try (TextTokenizer tok = TextTokenizer.load(Path.of(c.model()), c.maxLen())) {
            trainSet = new EncodedExamples(train, tok);
            devSet = new EncodedExamples(dev, tok);
        }
        SequenceClassifier model = built.model();
        List<Param> params = built.trainable();

        long stepsPerEpoch = (train.size() + c.batch() - 1) / c.batch();
        long total = stepsPerEpoch * c.epochs();
        LinearSchedule schedule = new LinearSchedule(c.lr(), Math.round(total * (double) c.warmupRatio()), total);
        AdamW opt = new AdamW(params, c.weightDecay());
        ClassifierStep stepper = new ClassifierStep(model, params, opt, c.maxGradNorm());
        StepHooks hooks = AdaptiveHooks.create(built.method(), model, c.rank(), c.adaptive(), total);
        stepper.setHooks(hooks);
        long trainableCount = MethodSetup.count(params);
        long totalCount = MethodSetup.count(model.allParams());
        listener.started(total, train.size(), dev.size());

        long step = 0;
        long tokens = 0;
        double trainSeconds = 0;
        Map<String, Double> best = null;
        Map<String, Double> last = null;
        String primary = TaskMetrics.primary(task);
        for (int epoch = 0; epoch < c.epochs(); epoch++) {
            double lossSum = 0;
            int lossCount = 0;
            long windowTokens = 0;
            long windowStart = System.nanoTime();
            for (int[] idx : BatchPlanner.trainBatches(trainSet.lengths(), c.batch(), c.seed(), epoch)) {
                long t0 = System.nanoTime();
                PaddedBatch b = trainSet.batch(idx);
                float lr = schedule.lr(step);
                ClassifierStep.Result r = stepper.step(kernels, b, trainSet.labels(idx), trainSet.targets(idx), lr, c.seed(), step);
                trainSeconds += (System.nanoTime() - t0) / 1e9;
                long batchTokens = (long) b.batch() * b.seqLen();
                tokens += batchTokens;
                windowTokens += batchTokens;
                step++;
                lossSum += r.loss();
                lossCount++;
                if (!Float.isFinite(r.loss()) || !Double.isFinite(r.gradNorm())) {
                    Map<String, Object> rec = new LinkedHashMap<>();
                    rec.put("type", "diverged");
                    rec.put("step", step);
                    rec.put("loss", Float.toString(r.loss()));
                    rec.put("grad_norm", Double.toString(r.gradNorm()));
                    rec.put("lr", lr);
                    run.append(RunFolder.METRICS, rec);
                    throw new TrainingDivergedException(step, r.loss(), r.gradNorm());
                }
                if (step % c.logEvery() == 0 || step == total) {
                    double secs = (System.nanoTime() - windowStart) / 1e9;
                    double tps = windowTokens / Math.max(secs, 1e-9);
                    Map<String, Object> rec = new LinkedHashMap<>();
                    rec.put("type", "train");
                    rec.put("step", step);
                    rec.put("epoch", epoch + (double) lossCount / stepsPerEpoch);
                    rec.put("loss", lossSum / lossCount);
                    rec.put("lr", lr);
                    rec.put("grad_norm", r.gradNorm());
                    rec.put("tokens_per_s", Math.round(tps));
                    run.append(RunFolder.METRICS, rec);
                    ObjectNode alloc = hooks.record(step - 1);
                    if (alloc != null) {
                        run.append(RunFolder.ALLOCATION, alloc);
                    }
                    listener.step(step, (float) (lossSum / lossCount), lr, tps);
                    windowTokens = 0;
                    windowStart = System.nanoTime();
                }
            }
            listener.evaluating(epoch + 1, dev.size());
            Map<String, Double> metrics = evaluate(kernels, model, task, devSet, Math.max(c.batch(), 32));
            last = metrics;
            if (best == null || metrics.get(primary) > best.get(primary)) {
                best = metrics;
            }
            Map<String, Object> rec = new LinkedHashMap<>();
            rec.put("type", "eval");
            rec.put("epoch", epoch + 1);
            rec.put("step", step);
            rec.put("split", devSplit);
            rec.put("train_loss", lossSum / Math.max(1, lossCount));
            rec.put("metrics", metrics);
            run.append(RunFolder.METRICS, rec);
            listener.evaluated(epoch + 1, metrics);
        }
        run.saveTrainable(params);
        String adapterExport = exportAdapter(run, built, c, hooks);
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("type", "summary");
        summary.put("model", c.model());
        summary.put("task", task.cliName());
        summary.put("method", built.method().cliName());
        summary.put("trainable_params", trainableCount);
        summary.put("active_trainable_params", ActiveParams.count(model, params));
        summary.put("adapter_export", adapterExport);
        summary.put("total_params", totalCount);
        summary.put("steps", step);
        summary.put("train_time_s", Math.round(trainSeconds * 10) / 10.0);
        summary.put("tokens_per_s", Math.round(tokens / Math.max(trainSeconds, 1e-9)));
        summary.put("best", best);
        summary.put("final", last);
        run.append(RunFolder.METRICS, summary);
        return summary;
    }
}
