package dev.dynalora.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.models.bert.BertEncoder;
import dev.dynalora.models.bert.PretrainedBert;
import dev.dynalora.models.bert.SequenceClassifier;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.training.Method;
import dev.dynalora.training.MethodSetup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.Arrays;
import java.util.concurrent.Callable;

/**
 * dynalora bench forward: an inference forward pass on random token ids. By default what the PyTorch reference's
 * {@code --mode infer} computes: the classification logits of the encoder with LoRA on the targets and a head on
 * the first token; {@code --output hidden} times the encoder alone, every token's last hidden state.
 */
@Command(name = "forward", mixinStandardHelpOptions = true, description = "Time the inference forward pass.")
final class BenchForwardCommand implements Callable<Integer> {
    enum Output { logits, hidden }

    @Mixin
    BenchOptions opts;

    @Option(names = "--output", defaultValue = "logits", description = "logits: a classifier's logits from the first "
            + "token, with LoRA on --targets (what the reference's --mode infer computes); hidden: the encoder's last "
            + "hidden state of every token. Default: ${DEFAULT-VALUE}.")
    Output output;

    @Option(names = "--rank", defaultValue = "8", description = "LoRA rank of the adapters (--output logits). Default: ${DEFAULT-VALUE}.")
    int rank;

    @Option(names = "--targets", description = "Modules with LoRA (--output logits). Default: query,value.")
    String targets;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() throws Exception {
        opts.validate();
        if (rank < 1) {
            throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this), "--rank must be at least 1, got " + rank);
        }
        SequenceClassifier classifier = null;
        BertEncoder enc;
        if (output == Output.logits) {
            classifier = PretrainedBert.loadClassifier(opts.model, 2, opts.seed);
            String t = targets != null ? targets : classifier.defaultTargets();
            MethodSetup.apply(classifier, Method.LORA, LoraConfig.of(rank, 16f, t, false, 0f, opts.seed));
            enc = classifier.encoder();
        } else {
            enc = PretrainedBert.loadEncoder(opts.model);
        }
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
                float[] h = classifier != null ? classifier.forward(k, ids, new int[rows], tb, false)
                        : enc.forward(k, ids, new int[rows], tb, false);
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
        o.put("output", output.name());
        o.put("ms_per_step", BenchSupport.round(ms, 2));
        o.put("tokens_per_s", BenchSupport.round(rows / ms * 1000, 1));
        o.put("cpu_ms_per_step", BenchSupport.round(BenchSupport.median(cpu), 2));
        o.put("peak_rss_mb", BenchSupport.peakRssMb());
        o.put("check", checksum);
        System.out.println(o);
        return 0;
    }
}
