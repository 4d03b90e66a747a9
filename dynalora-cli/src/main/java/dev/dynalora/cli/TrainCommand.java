package dev.dynalora.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.UserInputException;
import dev.dynalora.UserMessage;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.training.AdaptiveOptions;
import dev.dynalora.models.AutoModels;
import dev.dynalora.models.CausalLm;
import dev.dynalora.training.CausalLmRuns;
import dev.dynalora.training.GlueTrainer;
import dev.dynalora.training.Trainer;
import dev.dynalora.training.Method;
import dev.dynalora.training.RunFolder;
import dev.dynalora.training.TrainConfig;
import dev.dynalora.training.TrainingListener;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.function.Supplier;

/**
 * dynalora train: fine-tune on a GLUE task with one of the methods; writes a run folder. Front ends that train
 * elsewhere with the same flags and run folder (dynalora spark train) extend it and override
 * {@link #runTraining}.
 */
@Command(name = "train", mixinStandardHelpOptions = true, description = "Fine-tune a model on a GLUE task.")
public class TrainCommand implements Callable<Integer> {
    /** Steps between checkpoints when --save-every is not given. */
    static final int DEFAULT_SAVE_EVERY = TrainConfig.DEFAULT_SAVE_EVERY;

    /** The flags --resume accepts: none of them changes the model or the data, only how the rest is run. */
    static final Set<String> RESUME_FLAGS = Set.of("--resume", "--out", "--lr", "--max-grad-norm", "--threads", "--save-every");

    @Spec
    CommandSpec spec;

    // Required unless --resume (checked in call(), since with --resume they come from run_config.json).
    @Option(names = "--model", paramLabel = "DIR", description = "Hugging Face model folder (required unless --resume).")
    Path model;

    @Option(names = "--task", description = "A GLUE task for an encoder (cola, sst2, mrpc, stsb, qnli, qqp, mnli, rte,"
            + " wnli), or for a decoder lm (plain text) or sft (prompt/completion pairs) (required unless --resume).")
    String task;

    @Option(names = "--data", paramLabel = "DIR", description = "GLUE folder (original TSV layout), or for lm a folder with"
            + " train.txt and valid.txt, for sft train.jsonl and valid.jsonl (required unless --resume).")
    Path data;

    @Option(names = "--method", defaultValue = TrainConfig.DEFAULT_METHOD, description = "head, full, lora, adalora or dynamic. Default: ${DEFAULT-VALUE}.")
    String method;

    @Option(names = "--out", required = true, paramLabel = "RUN_DIR", description = "Run folder to create (or to continue, with --resume).")
    Path out;

    @Option(names = "--overwrite", description = "Replace the files of an existing run folder.")
    boolean overwrite;

    @Option(names = "--resume", description = "Continue the run in --out from its last checkpoint, with its run_config.json"
            + " (only --lr, --max-grad-norm, --threads and --save-every may be given again, to change them).")
    boolean resume;

    @Option(names = "--save-every", paramLabel = "N", description = "Steps between checkpoints; one is also written at"
            + " each epoch end (0: only there). Default: " + DEFAULT_SAVE_EVERY + ".")
    Integer saveEvery;

    @Option(names = "--rank", defaultValue = "" + TrainConfig.DEFAULT_RANK, description = "LoRA rank r. Default: ${DEFAULT-VALUE}.")
    int rank;

    @Option(names = "--alpha", defaultValue = "" + TrainConfig.DEFAULT_ALPHA, description = "LoRA alpha (scaling alpha/r). Default: ${DEFAULT-VALUE}.")
    float alpha;

    @Option(names = "--targets", description = "Modules to adapt: names, one regex, or all-linear. Default: query,value"
            + " (BERT), q_proj,v_proj (Llama).")
    String targets;

    @Option(names = "--rslora", description = "Scale by alpha/sqrt(r) (rsLoRA).")
    boolean rsLora;

    @Option(names = "--lora-dropout", defaultValue = "" + TrainConfig.DEFAULT_LORA_DROPOUT, description = "Dropout probability on the adapter input while training, as PEFT's lora_dropout. Default: ${DEFAULT-VALUE}.")
    float loraDropout;

    @Option(names = "--epochs", defaultValue = "" + TrainConfig.DEFAULT_EPOCHS, description = "Default: ${DEFAULT-VALUE}.")
    int epochs;

    @Option(names = "--batch", defaultValue = "" + TrainConfig.DEFAULT_BATCH, description = "Default: ${DEFAULT-VALUE}.")
    int batch;

    @Option(names = "--lr", description = "Peak learning rate. Default: 5e-4 for lora, dynamic and head (1e-3 for"
            + " lora and dynamic on a decoder, --task lm or sft), 2e-3 for adalora (5e-3 on a decoder), 5e-5 for full.")
    Float lr;

    @Option(names = "--max-len", description = "Truncate examples to N tokens (the block length for --task lm). Default:"
            + " 128 for GLUE, the smaller of 256 and the model's context for lm and sft.")
    Integer maxLen;

    @Option(names = "--seed", defaultValue = "" + TrainConfig.DEFAULT_SEED, description = "Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--warmup-ratio", defaultValue = "" + TrainConfig.DEFAULT_WARMUP_RATIO, description = "Default: ${DEFAULT-VALUE}.")
    float warmupRatio;

    @Option(names = "--weight-decay", defaultValue = "" + TrainConfig.DEFAULT_WEIGHT_DECAY, description = "Default: ${DEFAULT-VALUE}.")
    float weightDecay;

    @Option(names = "--max-grad-norm", defaultValue = "" + TrainConfig.DEFAULT_MAX_GRAD_NORM, description = "Default: ${DEFAULT-VALUE}.")
    float maxGradNorm;

    @Option(names = "--limit", defaultValue = "0", description = "Use only the first N training examples (0: all).")
    int limit;

    @Option(names = "--eval-limit", defaultValue = "0", description = "Use only the first N dev examples (0: all).")
    int evalLimit;

    @Option(names = "--shards", defaultValue = "" + TrainConfig.DEFAULT_SHARDS, paramLabel = "N",
            description = "Split each batch into N contiguous shards, computed one after another and their gradients"
                    + " summed in shard order: exactly what N data-parallel workers (dynalora spark train --workers N)"
                    + " compute, for a bit-identical single-process run. Default: ${DEFAULT-VALUE} (the whole batch at once).")
    int shards;

    @Option(names = "--log-every", defaultValue = "" + TrainConfig.DEFAULT_LOG_EVERY, description = "Steps between metrics.jsonl lines. Default: ${DEFAULT-VALUE}.")
    int logEvery;

    @Option(names = "--r-max", description = "Dynamic LoRA: components allocated per module. Default: 2 x --rank.")
    Integer rMax;

    @Option(names = "--r-min", defaultValue = "" + AdaptiveOptions.DEFAULT_R_MIN, description = "Dynamic LoRA: least active rank of a module. Default: ${DEFAULT-VALUE}.")
    int rMin;

    @Option(names = "--tau", defaultValue = "" + AdaptiveOptions.DEFAULT_TAU, description = "Dynamic LoRA: softmax temperature of the reallocation. Default: ${DEFAULT-VALUE}.")
    double tau;

    @Option(names = "--no-importance", description = "Dynamic LoRA: do not measure importance (implies --no-reallocation).")
    boolean noImportance;

    @Option(names = "--no-reallocation", description = "Dynamic LoRA: keep every module at --rank.")
    boolean noReallocation;

    @Option(names = "--no-gate", description = "Dynamic LoRA: no input gate.")
    boolean noGate;

    @Option(names = "--gate-per-token", description = "Dynamic LoRA: one gate value per token, from that token's"
            + " features, instead of one per example from the mean of its tokens.")
    boolean gatePerToken;

    @Option(names = "--gate-centre", description = "Dynamic LoRA: the gate reads its input minus a centre, the mean"
            + " input of its module over the first batch (fixed for the run, saved with the adapter), so that it"
            + " sees what differs between examples.")
    boolean gateCentre;

    @Option(names = "--gate-lr-ratio", defaultValue = "" + AdaptiveOptions.DEFAULT_GATE_LR_RATIO,
            description = "Dynamic LoRA: the learning rate of the gate weights w as a fraction of --lr (the gate biases keep --lr). Default: ${DEFAULT-VALUE}.")
    double gateLrRatio;

    @Option(names = "--max-rank-step", defaultValue = "" + AdaptiveOptions.DEFAULT_MAX_RANK_STEP,
            description = "Dynamic LoRA: most components a module gains or loses at one reallocation (0: no limit)."
                    + " Default: ${DEFAULT-VALUE}.")
    int maxRankStep;

    @Option(names = "--budget", defaultValue = "parameters",
            description = "Dynamic LoRA: what reallocation keeps at LoRA's level at --rank: parameters (adapter"
                    + " components weighted by their size, d_in + d_out, plus the gates) or components (the number of"
                    + " active rank components, which favours large modules when --targets mixes shapes)."
                    + " Default: ${DEFAULT-VALUE}.")
    RankBudget budget;

    /** The values of --budget. */
    enum RankBudget { parameters, components }

    @Option(names = "--init-r", description = "AdaLoRA: initial rank per module. Default: 1.5 x --rank.")
    Integer initR;

    @Option(names = "--target-r", description = "AdaLoRA: final average rank. Default: --rank.")
    Integer targetR;

    @Option(names = "--orth-reg-weight", defaultValue = "" + AdaptiveOptions.DEFAULT_ORTH_REG_WEIGHT, description = "AdaLoRA: orthogonal regulariser weight. Default: ${DEFAULT-VALUE}.")
    double orthRegWeight;

    @Option(names = "--t-init", defaultValue = "" + AdaptiveOptions.SCHEDULE_DEFAULT, description = "AdaLoRA / Dynamic LoRA: steps before the first reallocation (default 10%% of the run).")
    long tInit;

    @Option(names = "--t-final", defaultValue = "" + AdaptiveOptions.SCHEDULE_DEFAULT, description = "AdaLoRA / Dynamic LoRA: final steps with the allocation frozen (default 20%%).")
    long tFinal;

    @Option(names = "--delta-t", defaultValue = "" + AdaptiveOptions.SCHEDULE_DEFAULT, description = "AdaLoRA / Dynamic LoRA: steps between reallocations (default: about 20 in the window).")
    long deltaT;

    @Mixin
    ThreadsOption threads;

    /** The flags --resume accepts (a subclass adds its own, e.g. where the run is computed). */
    protected Set<String> resumeFlags() {
        return RESUME_FLAGS;
    }

    /** --threads when it is not given: all of this machine's cores. */
    protected int defaultThreads() {
        return Runtime.getRuntime().availableProcessors();
    }

    /**
     * The configuration as this command runs it, for a new run or (resuming) the run's own with its new
     * settings; a subclass may refuse or adjust it (dynalora spark train sets shards to its workers). Called
     * before the run folder is touched.
     */
    protected TrainConfig adjust(TrainConfig c, boolean resuming) {
        return c;
    }

    /**
     * Trains (or, resuming, continues) the run in {@code run} with configuration {@code c}; returns the summary.
     * Here: in this process, with a progress display and Ctrl-C as a clean stop. {@code setup} builds the model,
     * method and data (already checked, not yet built).
     */
    protected Map<String, Object> runTraining(TrainConfig c, RunFolder run, Supplier<Trainer.Setup> setup,
                                              boolean resuming) throws Exception {
        Map<String, Object> summary;
        Trainer.Setup s = setup.get();
        try (CpuKernels k = new CpuKernels(c.threads()); ProgressListener pl = new ProgressListener(c.epochs())) {
            Interrupts.arm();
            Trainer trainer = new Trainer(c, k, pl);
            summary = resuming ? trainer.resume(run, s) : trainer.run(run, s);
        } finally {
            Interrupts.disarm();
        }
        UserMessage warning = Trainer.peftGateWarning(s.method(), s.model());
        if (warning != null) {
            System.err.println("dynalora: warning: " + warning.render(SettingFlags::text));
        }
        return summary;
    }

    @Override
    public Integer call() throws Exception {
        if (resume) {
            return resumeRun();
        }
        List<String> missing = new ArrayList<>();
        if (model == null) {
            missing.add("--model");
        }
        if (task == null) {
            missing.add("--task");
        }
        if (data == null) {
            missing.add("--data");
        }
        if (!missing.isEmpty()) {
            throw new UserInputException("missing " + String.join(", ", missing) + " (or pass --resume to continue the run in --out)");
        }
        Method m = Method.parse(method);
        if (CausalLmRuns.isCausalTask(task)) {
            return trainCausalLm(m, lr != null ? lr : (float) CausalLmRuns.defaultLearningRate(m));
        }
        float peak = lr != null ? lr : (float) m.defaultLearningRate();
        TrainConfig c = config(m, peak, targets != null ? targets : GlueTrainer.DEFAULT_TARGETS,
                maxLen != null ? maxLen : TrainConfig.DEFAULT_MAX_LEN);
        // Everything that can fail on the user's input (model, --targets, --max-len, task data, tokenizer,
        // memory) is checked before the run folder is created, so a failed start leaves nothing behind.
        GlueTrainer.Built built = GlueTrainer.build(c);
        GlueTrainer.checkMemory(built, c);
        GlueTrainer.Data loaded = GlueTrainer.loadData(c, built.task());
        RunFolder run = RunFolder.create(out, overwrite);
        return train(c, run, () -> GlueTrainer.setup(built, loaded, c), false);
    }

    /** --task lm or sft: the decoder is loaded first, since the defaults of --targets and --max-len are its. */
    private int trainCausalLm(Method m, float peak) throws Exception {
        CausalLm lm = AutoModels.causalLm(model);
        TrainConfig c = config(m, peak, targets != null ? CausalLmRuns.resolveTargets(targets, lm) : lm.defaultTargets(),
                maxLen != null ? maxLen : Math.min(CausalLmRuns.DEFAULT_BLOCK, lm.maxPositions()));
        CausalLmRuns.Built built = CausalLmRuns.build(c, lm);
        CausalLmRuns.checkMemory(built, c);
        CausalLmRuns.Data loaded = CausalLmRuns.loadData(c, lm);
        RunFolder run = RunFolder.create(out, overwrite);
        return train(c, run, () -> CausalLmRuns.setup(built, loaded, c), false);
    }

    private TrainConfig config(Method m, float peak, String resolvedTargets, int resolvedMaxLen) {
        TrainConfig c = TrainConfig.builder()
                .model(model.toAbsolutePath().normalize().toString())
                .task(task)
                .data(data.toAbsolutePath().normalize().toString())
                .method(m.id())
                .rank(rank).alpha(alpha).targets(resolvedTargets).rsLora(rsLora).loraDropout(loraDropout)
                .epochs(epochs).batch(batch).lr(peak).maxLen(resolvedMaxLen).seed(seed).threads(resolvedThreads())
                .warmupRatio(warmupRatio).weightDecay(weightDecay).maxGradNorm(maxGradNorm)
                .trainLimit(limit).evalLimit(evalLimit).logEvery(logEvery)
                .saveEvery(saveEvery != null ? saveEvery : TrainConfig.DEFAULT_SAVE_EVERY)
                .shards(shards)
                .adaptive(adaptive())
                .build();
        c.validate();
        return adjust(c, false);
    }

    private int resolvedThreads() {
        return threads.threads != null ? threads.resolve() : defaultThreads();
    }

    private int train(TrainConfig c, RunFolder run, Supplier<Trainer.Setup> setup, boolean resuming) throws Exception {
        Map<String, Object> summary = runTraining(c, run, setup, resuming);
        System.out.println(new ObjectMapper().writeValueAsString(summary));
        return 0;
    }

    /**
     * --resume: the run's own configuration, with the few settings that may change. Anything else on the
     * command line is refused rather than silently ignored, since it would not take effect.
     */
    private int resumeRun() throws Exception {
        ParseResult parsed = spec.commandLine().getParseResult();
        List<String> refused = parsed.matchedOptions().stream()
                .map(o -> o.longestName()).filter(n -> !resumeFlags().contains(n)).distinct().toList();
        if (!refused.isEmpty()) {
            throw new UserInputException("--resume continues with the run's own configuration (" + RunFolder.CONFIG
                    + "); drop " + String.join(", ", refused) + " (only --lr, --max-grad-norm, --threads and --save-every may change)");
        }
        RunFolder run = RunFolder.open(out);
        if (!run.hasCheckpoint()) {
            throw new UserInputException(out + " has no checkpoint to resume from (" + RunFolder.CHECKPOINT
                    + " is written every --save-every steps and at each epoch end); start the run again with the same"
                    + " command without --resume (a folder without a checkpoint is reused)");
        }
        TrainConfig before = run.readConfig();
        TrainConfig c = before.withResumeSettings(lr != null ? lr : before.lr(),
                parsed.hasMatchedOption("--max-grad-norm") ? maxGradNorm : before.maxGradNorm(),
                threads.threads != null ? threads.resolve() : before.threads(),
                saveEvery != null ? saveEvery : before.saveEvery());
        c.validate();
        TrainConfig adjusted = adjust(c, true);
        return train(adjusted, run, () -> Trainer.Setup.of(adjusted), true);
    }

    private AdaptiveOptions adaptive() {
        AdaptiveOptions.Builder b = AdaptiveOptions.builder(rank)
                .rMin(rMin).tau(tau).importance(!noImportance).reallocation(!noImportance && !noReallocation)
                .gate(!noGate).orthRegWeight(orthRegWeight).tInit(tInit).tFinal(tFinal).deltaT(deltaT)
                .gatePerToken(gatePerToken).gateCentre(gateCentre).gateLrRatio(gateLrRatio).maxRankStep(maxRankStep)
                .parameterBudget(budget == RankBudget.parameters);
        if (rMax != null) {
            b.rMax(rMax);
        }
        if (initR != null) {
            b.initR(initR);
        }
        if (targetR != null) {
            b.targetR(targetR);
        }
        return b.build();
    }

    /**
     * Shows training progress: on a terminal a bar (steps, speed, ETA, loss, learning rate); otherwise (a log
     * file, a pipe, CI) one plain line every --log-every steps, as Hugging Face's Trainer logs. Both print one
     * line per evaluation. Also relays a Ctrl-C to the trainer (see {@link Interrupts}).
     */
    static final class ProgressListener implements TrainingListener, AutoCloseable {
        private final int epochs;
        private final boolean interactive = Progress.interactive();
        private Progress bar;
        private long total;
        private long firstStep;
        private long startNanos;

        ProgressListener(int epochs) {
            this.epochs = epochs;
        }

        @Override
        public void started(long totalSteps, int trainExamples, int evalExamples) {
            total = totalSteps;
            startNanos = System.nanoTime();
            bar = Progress.start("train", totalSteps, "steps");
            if (!interactive) {
                bar.println(String.format(Locale.ROOT, "training: %d steps (%d epoch%s), %d training and %d evaluation examples",
                        totalSteps, epochs, epochs == 1 ? "" : "s", trainExamples, evalExamples));
            }
        }

        @Override
        public void resumed(long step) {
            firstStep = step;
            bar.stepTo(step, "resumed at step " + step);
            if (!interactive) {
                bar.println("resumed at step " + step + " of " + total);
            }
        }

        @Override
        public void step(long step, float loss, float lr, double tokensPerSecond) {
            if (interactive) {
                bar.stepTo(step, String.format(Locale.ROOT, "loss %.4f lr %.2e %.0f tok/s", loss, lr, tokensPerSecond));
                return;
            }
            double elapsed = (System.nanoTime() - startNanos) / 1e9;
            long done = step - firstStep;
            String eta = done > 0 ? duration(elapsed / done * (total - step)) : "?";
            double epoch = total > 0 ? (double) step * epochs / total : 0;
            bar.println(String.format(Locale.ROOT, "step %d/%d  epoch %.2f  loss %.4f  lr %.2e  %.0f tokens/s  elapsed %s  eta %s",
                    step, total, epoch, loss, lr, tokensPerSecond, duration(elapsed), eta));
        }

        @Override
        public void evaluated(int epoch, Map<String, Double> metrics) {
            bar.println("epoch " + epoch + "/" + epochs + " dev: " + formatMetrics(metrics));
        }

        @Override
        public boolean stopRequested() {
            return Interrupts.stopRequested();
        }

        @Override
        public void close() {
            if (bar != null) {
                bar.close();
            }
        }
    }

    /** "accuracy 0.7132, f1 0.8123": metrics as a reader wants them, in the order the task defines. */
    static String formatMetrics(Map<String, Double> metrics) {
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<String, Double> e : metrics.entrySet()) {
            if (sb.length() > 0) {
                sb.append(", ");
            }
            sb.append(e.getKey()).append(' ').append(String.format(Locale.ROOT, "%.4f", e.getValue()));
        }
        return sb.toString();
    }

    /** h:mm:ss. */
    static String duration(double seconds) {
        long s = Math.max(0, Math.round(seconds));
        return String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
    }
}
