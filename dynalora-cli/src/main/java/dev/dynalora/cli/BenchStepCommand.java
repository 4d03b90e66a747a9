package dev.dynalora.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.adapters.AllocatorState;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.data.PaddedBatch;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.bert.PretrainedBert;
import dev.dynalora.models.AdaptableModel;
import dev.dynalora.models.AutoModels;
import dev.dynalora.models.CausalLm;
import dev.dynalora.models.bert.SequenceClassifier;
import dev.dynalora.training.CausalLmRuns;
import dev.dynalora.training.CausalLmStep;
import dev.dynalora.tensor.Param;
import dev.dynalora.training.AdamW;
import dev.dynalora.training.AdaptiveHooks;
import dev.dynalora.training.AdaptiveOptions;
import dev.dynalora.training.ClassifierStep;
import dev.dynalora.training.Method;
import dev.dynalora.training.MethodSetup;
import dev.dynalora.training.StepHooks;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * dynalora bench step: full training steps (forward, backward, optimizer) on random token ids: of a sequence
 * classifier, as ../shared/reference/torch_bert_lora.py times them, or of a causal LM (next-token loss on
 * --seq + 1 random tokens per row), as torch_llama_lora.py --mode step does.
 */
@Command(name = "step", mixinStandardHelpOptions = true, description = "Time full training steps (forward, backward, AdamW).")
final class BenchStepCommand implements Callable<Integer> {
    @Mixin
    BenchOptions opts;

    @Mixin
    ThreadsOption threads;

    @Option(names = "--method", defaultValue = "lora", description = "head, full, lora or dynamic. Default: ${DEFAULT-VALUE}.")
    String method;

    @Option(names = "--rank", defaultValue = "8", description = "Default: ${DEFAULT-VALUE}.")
    int rank;

    @Option(names = "--alpha", defaultValue = "16", description = "Default: ${DEFAULT-VALUE}.")
    float alpha;

    @Option(names = "--targets", description = "Default: the model family's (query,value for BERT, q_proj,v_proj for Llama).")
    String targets;

    @Option(names = "--r-max", description = "Dynamic LoRA: allocated components per module. Default: --rank (same rank as LoRA).")
    Integer rMax;

    @Option(names = "--no-dropout", description = "Disable hidden dropout (the PyTorch reference has none).")
    boolean noDropout;

    @Option(names = "--paired-with", paramLabel = "METHOD", description = "Also build a second model with METHOD and "
            + "alternate steps of the two in this process; adds paired_ms_per_step and overhead_pct (median over the pairs "
            + "of this method's step time over METHOD's, minus one).")
    String pairedWith;

    /** One model, its trainable parameters and its training step. */
    private double lastCpuMs;

    private double timeStep(Setup st, CpuKernels k, int s) {
        long c0 = BenchSupport.processCpuNanos();
        long t0 = System.nanoTime();
        st.step().run(k, s);
        double ms = (System.nanoTime() - t0) / 1e6;
        lastCpuMs = (BenchSupport.processCpuNanos() - c0) / 1e6;
        return ms;
    }

    /** One training step on the benchmark's fixed batch; returns its loss. */
    @FunctionalInterface
    private interface TimedStep {
        float run(CpuKernels k, int step);
    }

    private record Setup(Method method, List<Param> params, TimedStep step, TimedHooks hooks,
                         List<LoraAdapter> adapters, String targets) {
        /** Wall time so far in the work plain LoRA does not do: the gates, mask compaction, the allocator's hooks. */
        long extraWorkNanos() {
            long n = hooks.nanos;
            for (LoraAdapter a : adapters) {
                n += a.extraWorkNanos();
            }
            return n;
        }
    }

    /** A method's step hooks, adding up the wall time spent in them (Dynamic LoRA's importance and reallocation). */
    private static final class TimedHooks implements StepHooks {
        private final StepHooks inner;
        long nanos;

        TimedHooks(StepHooks inner) {
            this.inner = inner;
        }

        @Override
        public double regularize(long step) {
            long t0 = System.nanoTime();
            double r = inner.regularize(step);
            nanos += System.nanoTime() - t0;
            return r;
        }

        @Override
        public void beforeOptimizer(long step) {
            long t0 = System.nanoTime();
            inner.beforeOptimizer(step);
            nanos += System.nanoTime() - t0;
        }

        @Override
        public void afterOptimizer(long step) {
            long t0 = System.nanoTime();
            inner.afterOptimizer(step);
            nanos += System.nanoTime() - t0;
        }

        @Override
        public ObjectNode record(long step) {
            return inner.record(step);
        }

        @Override
        public void saveState(AllocatorState state) {
            inner.saveState(state);
        }

        @Override
        public void restoreState(AllocatorState state) {
            inner.restoreState(state);
        }
    }

    private Setup build(Method m) {
        if (AutoModels.isCausalLm(opts.model)) {
            return buildCausalLm(m);
        }
        SequenceClassifier model = PretrainedBert.loadClassifier(opts.model, 2, opts.seed);
        String t = targets != null ? targets : model.defaultTargets();
        AdaptiveOptions adaptive = adaptive();
        List<Param> params = MethodSetup.apply(model, m, lora(m, t), adaptive);
        ClassifierStep step = new ClassifierStep(model, params, MethodSetup.optimizer(model, params, m, 0.01f, adaptive), 1.0);
        TimedHooks hooks = hooks(m, model, adaptive);
        step.setHooks(hooks);
        int rows = opts.batch * opts.seq;
        int[] ids = BenchSupport.randomIds(rows, model.encoder().config().vocabSize(), opts.seed);
        int[] mask = new int[rows];
        Arrays.fill(mask, 1);
        PaddedBatch b = new PaddedBatch(opts.batch, opts.seq, ids, new int[rows], mask);
        int[] labels = new SplittableRandom(opts.seed + 1).ints(opts.batch, 0, 2).toArray();
        return new Setup(m, params, (k, s) -> step.step(k, b, labels, null, 5e-4f, opts.seed, s, !noDropout).loss(),
                hooks, adapters(model), t);
    }

    /** A decoder: --seq + 1 random tokens per row, inputs the first --seq, targets the last --seq (as the reference). */
    private Setup buildCausalLm(Method m) {
        CausalLm model = AutoModels.causalLm(opts.model);
        String t = targets != null ? targets : model.defaultTargets();
        AdaptiveOptions adaptive = adaptive();
        List<Param> params = MethodSetup.apply(model, m, lora(m, CausalLmRuns.resolveTargets(t, model)), adaptive);
        CausalLmStep step = new CausalLmStep(model, params, MethodSetup.optimizer(model, params, m, 0.01f, adaptive), 1.0);
        TimedHooks hooks = hooks(m, model, adaptive);
        step.setHooks(hooks);
        int[] tokens = BenchSupport.randomIds(opts.batch * (opts.seq + 1), model.vocabSize(), opts.seed);
        int[] ids = new int[opts.batch * opts.seq];
        int[] next = new int[opts.batch * opts.seq];
        for (int b = 0; b < opts.batch; b++) {
            System.arraycopy(tokens, b * (opts.seq + 1), ids, b * opts.seq, opts.seq);
            System.arraycopy(tokens, b * (opts.seq + 1) + 1, next, b * opts.seq, opts.seq);
        }
        return new Setup(m, params, (k, s) -> step.step(k, ids, next, opts.batch, opts.seq, 5e-4f, opts.seed, s, !noDropout).loss(),
                hooks, adapters(model), t);
    }

    private LoraConfig lora(Method m, String t) {
        return m.usesAdapters() ? LoraConfig.of(rank, alpha, t, false, 0f, opts.seed) : null;
    }

    /** Dynamic LoRA at LoRA's rank (r_max = --rank unless given), every mechanism on, per-example gate. */
    private AdaptiveOptions adaptive() {
        return AdaptiveOptions.builder(rank).rMax(rMax != null ? rMax : rank).build();
    }

    /** The adaptive methods' per-step work (importance, reallocation, regulariser) is part of their cost. */
    private TimedHooks hooks(Method m, AdaptableModel model, AdaptiveOptions adaptive) {
        return new TimedHooks(AdaptiveHooks.create(m, model, rank, adaptive, opts.warmup + opts.steps));
    }

    private static List<LoraAdapter> adapters(AdaptableModel model) {
        List<LoraAdapter> adapters = new ArrayList<>();
        for (LinearModule lm : model.linearModules()) {
            if (lm.adapter() instanceof LoraAdapter a) {
                adapters.add(a);
            }
        }
        return adapters;
    }

    @Override
    public Integer call() throws Exception {
        opts.validate();
        Method m = Method.parse(method);
        Setup main = build(m);
        // Paired mode: the machine's speed drifts by tens of percent over seconds (a shared VM), which swamps a
        // difference of a few percent between two separate runs. Alternating the two methods step by step in
        // one process (and which goes first in each pair) lets each pair see the same conditions.
        Setup other = pairedWith != null ? build(Method.parse(pairedWith)) : null;
        int rows = opts.batch * opts.seq;
        double[] times = new double[opts.steps];
        double[] otherTimes = new double[opts.steps];
        double[] pairRatios = new double[opts.steps];
        double[] cpuRatios = new double[opts.steps];
        double[] cpuTimes = new double[opts.steps];
        float loss = 0;
        long extraNanos = 0;
        try (CpuKernels k = threads.kernels()) {
            for (int s = 0; s < opts.warmup + opts.steps; s++) {
                if (s == opts.warmup) {
                    extraNanos = -main.extraWorkNanos();
                }
                boolean otherFirst = other != null && s % 2 == 1;
                double to = otherFirst ? timeStep(other, k, s) : 0;
                double co = lastCpuMs;
                long c0 = BenchSupport.processCpuNanos();
                long t0 = System.nanoTime();
                loss = main.step().run(k, s);
                double t = (System.nanoTime() - t0) / 1e6;
                double c = (BenchSupport.processCpuNanos() - c0) / 1e6;
                if (other != null && !otherFirst) {
                    to = timeStep(other, k, s);
                    co = lastCpuMs;
                }
                if (s >= opts.warmup) {
                    times[s - opts.warmup] = t;
                    otherTimes[s - opts.warmup] = to;
                    pairRatios[s - opts.warmup] = t / to;
                    cpuRatios[s - opts.warmup] = c / co;
                    cpuTimes[s - opts.warmup] = c;
                }
            }
            extraNanos += main.extraWorkNanos();
        }
        List<Param> params = main.params();
        double ms = BenchSupport.median(times);
        ObjectNode o = new ObjectMapper().createObjectNode();
        o.put("engine", "dynalora");
        o.put("mode", "train");
        o.put("method", m.id());
        o.put("java", Runtime.version().toString());
        o.put("threads", threads.resolve());
        o.put("batch", opts.batch);
        o.put("seq", opts.seq);
        o.put("targets", m.usesAdapters() ? main.targets() : "");
        o.put("rank", m.usesAdapters() ? rank : 0);
        o.put("trainable_params", MethodSetup.count(params));
        o.put("dropout", !noDropout);
        o.put("ms_per_step", BenchSupport.round(ms, 2));
        o.put("tokens_per_s", BenchSupport.round(rows / ms * 1000, 1));
        o.put("cpu_ms_per_step", BenchSupport.round(BenchSupport.median(cpuTimes), 2));
        o.put("peak_rss_mb", BenchSupport.peakRssMb());
        o.put("final_loss", BenchSupport.round(loss, 4));
        if (m == Method.DYNAMIC) {
            // The direct measure of Dynamic LoRA's added cost: timers around the work LoRA does not do, in the
            // same steps (summed over the timed steps, so the share is of the total step time).
            double extraMs = extraNanos / 1e6;
            o.put("extra_work_ms_per_step", BenchSupport.round(extraMs / opts.steps, 4));
            o.put("extra_work_pct", BenchSupport.round(100 * extraMs / Arrays.stream(times).sum(), 3));
        }
        if (other != null) {
            o.put("paired_method", other.method().id());
            o.put("paired_ms_per_step", BenchSupport.round(BenchSupport.median(otherTimes), 2));
            o.put("overhead_pct", BenchSupport.round((BenchSupport.median(pairRatios) - 1) * 100, 3));
            o.put("pairs", opts.steps);
            com.fasterxml.jackson.databind.node.ArrayNode per = o.putArray("overhead_pct_per_pair");
            for (double r : pairRatios) {
                per.add(BenchSupport.round((r - 1) * 100, 2));
            }
            o.put("cpu_overhead_pct", BenchSupport.round((BenchSupport.median(cpuRatios) - 1) * 100, 3));
            com.fasterxml.jackson.databind.node.ArrayNode cper = o.putArray("cpu_overhead_pct_per_pair");
            for (double r : cpuRatios) {
                cper.add(BenchSupport.round((r - 1) * 100, 2));
            }
        }
        System.out.println(o);
        return 0;
    }
}
