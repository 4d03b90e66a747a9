package dev.dynalora.training;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.Setting;
import dev.dynalora.UserInputException;
import dev.dynalora.UserMessage;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.data.BatchPlanner;
import dev.dynalora.formats.peft.PeftAdapters;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.models.AdaptableModel;
import dev.dynalora.models.LinearModule;
import dev.dynalora.tensor.Param;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The training loop, the same for every task and model family (llm.c's train loop, with what a run folder
 * needs around it): length-bucketed batches from the {@link Objective}, AdamW with a linear warm-up/decay
 * schedule and the adaptive method's hooks, a log line every logEvery steps, an evaluation after each
 * epoch, checkpoints every saveEvery steps and at epoch ends, a clean stop on request, divergence detection,
 * and at the end the trained tensors, the adapter files and a summary.
 */
public final class Trainer {
    private final TrainConfig config;
    private final Kernels kernels;
    private final TrainingListener listener;
    private final BatchGradients gradients;

    /**
     * What a run trains: the method applied to the model (see {@link MethodSetup}), its trainable parameters,
     * the objective, and how the adapter files are written.
     */
    public record Setup(Method method, AdaptableModel model, LoraConfig lora, List<Param> trainable, Objective objective) {
        /**
         * The setup of a run from its configuration alone, as {@code train --resume} builds it: the model (an
         * encoder with a classifier for a GLUE task, a decoder for lm and sft), the method applied, the data read
         * and tokenized, after the memory check. A data-parallel worker builds its own copy this way.
         */
        public static Setup of(TrainConfig c) {
            if (CausalLmRuns.isCausalTask(c.task())) {
                CausalLmRuns.Built built = CausalLmRuns.build(c);
                CausalLmRuns.checkMemory(built, c);
                return CausalLmRuns.setup(built, CausalLmRuns.loadData(c, built.model()), c);
            }
            GlueTrainer.Built built = GlueTrainer.build(c);
            GlueTrainer.checkMemory(built, c);
            return GlueTrainer.setup(built, GlueTrainer.loadData(c, built.task()), c);
        }
    }

    /**
     * Writes the PEFT adapter files of an adapter method (PEFT's layout for the model's family, see
     * formats.peft); returns what was written, for the summary. AdaLoRA's file records the schedule the run's
     * allocator used, so it takes the run's hooks.
     */
    static String exportAdapter(RunFolder run, Setup setup, String baseModel, StepHooks hooks) {
        if (!setup.method().usesAdapters()) {
            return "none (method " + setup.method().id() + " has no adapter)";
        }
        if (hooks instanceof AdaptiveHooks.AdaLoraHooks ada) {
            PeftAdapters.saveAdaLora(run.dir(), setup.model(), setup.lora(), ada.allocator().config(), baseModel);
        } else {
            PeftAdapters.save(run.dir(), setup.model(), setup.lora(), baseModel, Map.of());
        }
        return "peft";
    }

    /** A trainer whose steps compute config.shards() shards in turn ({@link BatchGradients#local}). */
    public Trainer(TrainConfig config, Kernels kernels, TrainingListener listener) {
        this(config, kernels, listener, BatchGradients.local(config.shards()));
    }

    /**
     * A trainer whose steps get their gradient from {@code gradients}: a data-parallel worker's, which computes
     * its own shard and gathers the others' (dynalora-spark). Such a worker other than the leader trains on a
     * {@link RunFolder#follower()} view: the same loop and state, no files written, no evaluation.
     */
    public Trainer(TrainConfig config, Kernels kernels, TrainingListener listener, BatchGradients gradients) {
        config.validate();
        this.config = config;
        this.kernels = kernels;
        this.listener = listener == null ? TrainingListener.NONE : listener;
        this.gradients = gradients;
    }

    /** Trains from the start; writes run_config.json first. */
    public Map<String, Object> run(RunFolder run, Setup setup) {
        run.writeConfig(config);
        return train(run, setup, false);
    }

    /**
     * Continues the run in {@code run} from its checkpoint, with this trainer's configuration (the run's own,
     * possibly with a new lr, maxGradNorm, threads or saveEvery: {@link TrainConfig#withResumeSettings}). metrics.jsonl and
     * allocation.jsonl are first cut back to where the checkpoint was taken, so that a run resumed with an
     * unchanged configuration writes exactly the files an uninterrupted run writes (timings aside).
     *
     * @throws UserInputException if there is no checkpoint, the run has finished, or the checkpoint does not
     *     fit the configuration and data
     */
    public Map<String, Object> resume(RunFolder run, Setup setup) {
        if (!run.hasCheckpoint()) {
            throw new UserInputException(UserMessage.of(run.dir() + " has no checkpoint to resume from ("
                    + RunFolder.CHECKPOINT + " is written every ", Setting.SAVE_EVERY, " steps and at each epoch end)"));
        }
        if (run.finished()) {
            throw new UserInputException("the run in " + run.dir() + " has already finished; nothing to resume");
        }
        return train(run, setup, true);
    }

    /**
     * Null, or why the PEFT adapter files of a gated Dynamic LoRA model do not reproduce it: Python PEFT has no
     * input gate, drops the lora_gate.* tensors (reporting them only as unexpected keys in a return value, no
     * warning) and so builds a different model. Said in the run summary (adapter_warning).
     */
    public static UserMessage peftGateWarning(Method method, AdaptableModel model) {
        if (!method.usesAdapters()) {
            return null;
        }
        for (LinearModule m : model.linearModules()) {
            if (m.adapter() instanceof LoraAdapter a && a.gated()) {
                return UserMessage.of("the adapter's input gates are saved under lora_gate.* keys, which Python PEFT"
                        + " does not load, so PEFT builds a different model from adapter_model.safetensors than"
                        + " dynalora's; train with ", Setting.GATE.is(false), " for an adapter that PEFT reproduces"
                        + " exactly");
            }
        }
        return null;
    }

    private Map<String, Object> train(RunFolder run, Setup setup, boolean resume) {
        TrainConfig c = config;
        Objective objective = setup.objective();
        AdaptableModel model = setup.model();
        List<Param> params = setup.trainable();
        int trainExamples = objective.trainExamples();

        long stepsPerEpoch = (trainExamples + c.batch() - 1) / c.batch();
        long total = stepsPerEpoch * c.epochs();
        LinearSchedule schedule = new LinearSchedule(c.lr(), Math.round(total * (double) c.warmupRatio()), total);
        AdamW opt = MethodSetup.optimizer(model, params, setup.method(), c.weightDecay(), c.adaptive());
        StepHooks hooks = AdaptiveHooks.create(setup.method(), model, c.rank(), c.adaptive(), total);
        long trainableCount = MethodSetup.count(params);
        long totalCount = MethodSetup.count(model.allParams());

        TrainingProgress p = new TrainingProgress();
        if (resume) {
            Checkpoint.Restored from = Checkpoint.restore(run.checkpoint(), params, opt, hooks, trainExamples, total);
            p = from.progress();
            run.removeTemporaries();
            for (String log : List.of(RunFolder.METRICS, RunFolder.ALLOCATION)) {
                run.truncate(log, from.logSizes().getOrDefault(log, 0L));
            }
            recordChanges(run, from.config(), c, p.step);
            run.writeConfig(c);
        }
        if (!resume) {
            // The whole first batch, on every data-parallel worker alike; its gradients are discarded.
            hooks.beforeFirstStep(() -> {
                int[] first = BatchPlanner.trainBatches(objective.trainLengths(), c.batch(), c.seed(), 0).get(0);
                for (Param q : params) {
                    q.zeroGrad();
                }
                objective.lossAndGradients(kernels, first, c.seed(), 0);
                for (Param q : params) {
                    q.zeroGrad();
                }
            });
        }
        Checkpointer checkpoints = new Checkpointer(run, c, params, opt, hooks, trainExamples, total, resume ? p.step : -1);
        listener.started(total, trainExamples, objective.evalExamples());
        if (resume) {
            listener.resumed(p.step);
        }

        for (int epoch = p.epoch; epoch < c.epochs(); epoch++) {
            long windowTokens = 0;
            long windowStart = System.nanoTime();
            // The plan is a pure function of (seed, epoch): a resumed run recomputes it and skips what was done.
            List<int[]> plan = BatchPlanner.trainBatches(objective.trainLengths(), c.batch(), c.seed(), epoch);
            for (int bi = p.batchInEpoch; bi < plan.size(); bi++) {
                int[] idx = plan.get(bi);
                long t0 = System.nanoTime();
                float lr = schedule.lr(p.step);
                long stepIndex = p.step;
                long[] computed = new long[1];
                ClassifierStep.Result r = OptimizerStep.run(kernels, params, opt, c.maxGradNorm(), hooks, lr, stepIndex, () -> {
                    Objective.Loss l = gradients.compute(kernels, objective, params, idx, c.seed(), stepIndex);
                    computed[0] = l.tokens();
                    return l.loss();
                });
                p.trainSeconds += (System.nanoTime() - t0) / 1e9;
                long batchTokens = computed[0];
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
            // A follower (see the constructor) writes no record of it, so it skips the evaluation; nothing it
            // computes changes the state the next steps start from.
            if (run.writes()) {
                listener.evaluating(epoch + 1, objective.evalExamples());
                Map<String, Double> metrics = objective.evaluate(kernels, Math.max(c.batch(), 32), null);
                p.evaluated(metrics, objective.primaryMetric(), objective.higherIsBetter());
                Map<String, Object> rec = new LinkedHashMap<>();
                rec.put("type", "eval");
                rec.put("epoch", epoch + 1);
                rec.put("step", p.step);
                rec.put("split", objective.evalSplit());
                rec.put("train_loss", p.lossSum / Math.max(1, p.lossCount));
                rec.put("metrics", metrics);
                run.append(RunFolder.METRICS, rec);
                listener.evaluated(epoch + 1, metrics);
            }
            p.endEpoch();
            save(checkpoints, run, p, schedule.lr(p.step - 1), c.lr());
            if (epoch + 1 < c.epochs() && listener.stopRequested()) {
                stopHere(checkpoints, run, p, schedule.lr(p.step - 1), c.lr(), total);
            }
        }
        checkpoints.finish();
        run.saveTrainable(params, model);
        String adapterExport = run.writes() ? exportAdapter(run, setup, c.model(), hooks) : "none (follower)";
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("type", "summary");
        summary.put("model", c.model());
        summary.put("task", c.task());
        summary.put("method", setup.method().id());
        summary.put("trainable_params", trainableCount);
        summary.put("active_trainable_params", ActiveParams.count(model, params));
        summary.put("adapter_export", adapterExport);
        UserMessage gateWarning = peftGateWarning(setup.method(), model);
        if (gateWarning != null) {
            summary.put("adapter_warning", gateWarning.toString());
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
     * A "resumed" record when a resume changes the configuration (a lower lr after a divergence, another
     * number of threads), so that metrics.jsonl tells which steps ran with what; nothing when nothing changed, so an
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
