package dev.dynalora.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.models.bert.BertEncoder;
import dev.dynalora.models.bert.PretrainedBert;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.util.Arrays;
import java.util.concurrent.Callable;

/** dynalora bench forward: the encoder's inference forward pass on random token ids. */
@Command(name = "forward", mixinStandardHelpOptions = true, description = "Time the encoder forward pass (inference).")
final class BenchForwardCommand implements Callable<Integer> {
    @Mixin
    BenchOptions opts;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() throws Exception {
        opts.validate();
        BertEncoder enc = PretrainedBert.loadEncoder(opts.model);
        int rows = opts.batch * opts.seq;
        int[] ids = BenchSupport.randomIds(rows, enc.config().vocabSize(), opts.seed);
        int[] mask = new int[rows];
        Arrays.fill(mask, 1);
        TokenBatch tb = new TokenBatch(opts.batch, opts.seq, mask, false, 0, 0);
        double[] times = new double[opts.steps];
        double[] cpu = new double[opts.steps];
        double checksum = 0;
        try (CpuKernels k = threads.kernels()) {
            for (int s = 0; s < opts.warmup + opts.steps; s++) {
                long c0 = BenchSupport.processCpuNanos();
                long t0 = System.nanoTime();
                float[] h = enc.forward(k, ids, new int[rows], tb, false);
                long t1 = System.nanoTime();
                long c1 = BenchSupport.processCpuNanos();
                checksum = h[0];
                if (s >= opts.warmup) {
                    times[s - opts.warmup] = (t1 - t0) / 1e6;
                    cpu[s - opts.warmup] = (c1 - c0) / 1e6;
                }
            }
        }
        double ms = BenchSupport.median(times);
        ObjectNode o = new ObjectMapper().createObjectNode();
        o.put("engine", "dynalora");
        o.put("mode", "infer");
        o.put("java", Runtime.version().toString());
        o.put("threads", threads.resolve());
        o.put("batch", opts.batch);
        o.put("seq", opts.seq);
        o.put("ms_per_step", BenchSupport.round(ms, 2));
        o.put("tokens_per_s", BenchSupport.round(rows / ms * 1000, 1));
        o.put("cpu_ms_per_step", BenchSupport.round(BenchSupport.median(cpu), 2));
        o.put("peak_rss_mb", BenchSupport.peakRssMb());
        o.put("check", checksum);
        System.out.println(o);
        return 0;
    }
}
