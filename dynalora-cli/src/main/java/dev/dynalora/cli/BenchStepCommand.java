package dev.dynalora.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.adapters.AllocatorState;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.data.PaddedBatch;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.PretrainedBert;
import dev.dynalora.models.SequenceClassifier;
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
 * dynalora bench step: full training steps (forward, backward, optimizer) of a sequence classifier on random
 * token ids, as ../shared/reference/torch_bert_lora.py times them.
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

    @Option(names = "--targets", defaultValue = "query,value", description = "Default: ${DEFAULT-VALUE}.")
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

    private double timeStep(Setup st, CpuKernels k, PaddedBatch b, int[] labels, int s) {
        long c0 = BenchSupport.processCpuNanos();
        long t0 = System.nanoTime();
        st.step().step(k, b, labels, null, 5e-4f, opts.seed, s, !noDropout);
        double ms = (System.nanoTime() - t0) / 1e6;
        lastCpuMs = (BenchSupport.processCpuNanos() - c0) / 1e6;
        return ms;
    }

    private record Setup(Method method, List<Param> params, ClassifierStep step, int vocab, TimedHooks hooks,
                         List<LoraAdapter> adapters) {
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
        SequenceClassifier model = PretrainedBert.loadClassifier(opts.model, 2, opts.seed);
        LoraConfig lora = m.usesAdapters() ? LoraConfig.of(rank, alpha, targets, false, 0f, opts.seed) : null;
        AdaptiveOptions d = AdaptiveOptions.defaults(rank);
        AdaptiveOptions adaptive = new AdaptiveOptions(rMax != null ? rMax : rank, d.rMin(), d.tau(), true, true, true,
                d.initR(), d.targetR(), d.orthRegWeight(), -1, -1, -1, false, d.gateLrRatio(), d.maxRankStep());
        List<Param> params = MethodSetup.apply(model, m, lora, adaptive);
        ClassifierStep step = new ClassifierStep(model, params, MethodSetup.optimizer(model, params, m, 0.01f, adaptive), 1.0);
        // The adaptive methods' per-step work (importance, reallocation, regulariser) is part of their cost.
        TimedHooks hooks = new TimedHooks(AdaptiveHooks.create(m, model, rank, adaptive, opts.warmup + opts.steps));
        step.setHooks(hooks);
        List<LoraAdapter> adapters = new ArrayList<>();
        for (LinearModule lm : model.encoder().linearModules()) {
            if (lm.adapter() instanceof LoraAdapter a) {
                adapters.add(a);
            }
        }
        return new Setup(m, params, step, model.encoder().config().vocabSize(), hooks, adapters);
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
        int[] ids = BenchSupport.randomIds(rows, main.vocab(), opts.seed);
        int[] mask = new int[rows];
        Arrays.fill(mask, 1);
        PaddedBatch b = new PaddedBatch(opts.batch, opts.seq, ids, new int[rows], mask);
        int[] labels = new SplittableRandom(opts.seed + 1).ints(opts.batch, 0, 2).toArray();
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
                double to = otherFirst ? timeStep(other, k, b, labels, s) : 0;
                double co = lastCpuMs;
                long c0 = BenchSupport.processCpuNanos();
                long t0 = System.nanoTime();
                loss = main.step().step(k, b, labels, null, 5e-4f, opts.seed, s, !noDropout).loss();
                double t = (System.nanoTime() - t0) / 1e6;
                double c = (BenchSupport.processCpuNanos() - c0) / 1e6;
                if (other != null && !otherFirst) {
                    to = timeStep(other, k, b, labels, s);
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
        o.put("method", m.cliName());
        o.put("java", Runtime.version().toString());
        o.put("threads", threads.resolve());
        o.put("batch", opts.batch);
        o.put("seq", opts.seq);
        o.put("targets", m.usesAdapters() ? targets : "");
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
            o.put("paired_method", other.method().cliName());
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
