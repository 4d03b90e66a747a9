package dev.dynalora.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.UserInputException;
import dev.dynalora.generation.Completion;
import dev.dynalora.generation.GenerationConfig;
import dev.dynalora.generation.Generator;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.models.AutoModels;
import dev.dynalora.models.CausalLm;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * dynalora bench generate: greedy generation with the KV cache from random prompts, as
 * ../shared/reference/torch_llama_lora.py --mode generate times it: --new-tokens tokens per prompt (past any
 * end-of-sequence token), the first from the prefill's logits, the rest from decode steps.
 *
 * <p>tokens_per_s counts decode steps only (batch x (new tokens - 1) tokens over the decode time: prefill
 * excluded); prefill_ms is reported beside it, and tokens_per_s_incl_prefill (batch x new tokens over prefill
 * plus decode) is the figure the PyTorch reference reports as its tokens_per_s.
 */
@Command(name = "generate", mixinStandardHelpOptions = true, description = "Time greedy generation with the KV cache (prefill, then decode steps).")
final class BenchGenerateCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face Llama model folder.")
    Path model;

    @Option(names = "--batch", defaultValue = "1", description = "Prompts generated at once. Default: ${DEFAULT-VALUE}.")
    int batch;

    @Option(names = "--prompt-len", defaultValue = "16", paramLabel = "N", description = "Tokens per random prompt. Default: ${DEFAULT-VALUE}.")
    int promptLen;

    @Option(names = "--new-tokens", defaultValue = "200", paramLabel = "N", description = "Tokens generated per prompt. Default: ${DEFAULT-VALUE}.")
    int newTokens;

    @Option(names = "--steps", defaultValue = "3", description = "Timed generations (the median is reported). Default: ${DEFAULT-VALUE}.")
    int steps;

    @Option(names = "--warmup", defaultValue = "1", description = "Untimed generations first. Default: ${DEFAULT-VALUE}.")
    int warmup;

    @Option(names = "--seed", defaultValue = "0", description = "Seed for the random prompts. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--no-gemv", description = "Run the decode steps' products through the blocked GEMM instead of the dot-product path (to measure what that path gains).")
    boolean noGemv;

    @Option(names = "--json", description = "Print one JSON line (the default; kept for the documented command line).")
    boolean json;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() {
        if (batch < 1 || promptLen < 1 || newTokens < 1 || steps < 1 || warmup < 0) {
            throw new UserInputException("--batch, --prompt-len, --new-tokens and --steps must be >= 1, --warmup >= 0");
        }
        CausalLm m = AutoModels.causalLm(model);
        int context = m.maxPositions();
        if (promptLen + newTokens > context) {
            throw new UserInputException("--prompt-len " + promptLen + " + --new-tokens " + newTokens
                    + " exceeds the model's context of " + context + " tokens (max_position_embeddings)");
        }
        // Random ids in [3, vocab), as the reference draws them (no BOS; 0-2 are <unk>, <s>, </s>).
        SplittableRandom r = new SplittableRandom(seed);
        List<int[]> prompts = new ArrayList<>();
        for (int b = 0; b < batch; b++) {
            prompts.add(r.ints(promptLen, 3, m.vocabSize()).toArray());
        }
        GenerationConfig config = GenerationConfig.greedy(newTokens).withIgnoreEos(true);
        double[] decode = new double[steps];
        double[] withPrefill = new double[steps];
        double[] prefillMs = new double[steps];
        double[] msPerStep = new double[steps];
        long check = 0;
        try (CpuKernels k = noGemv ? new CpuKernels(threads.resolve(), 0) : threads.kernels()) {
            Generator g = new Generator(m, k, null);
            for (int s = 0; s < warmup + steps; s++) {
                List<Completion> done = g.generate(prompts, config, batch, null);
                check = 0;
                for (Completion c : done) {
                    for (int id : c.completionIds()) {
                        check = check * 31 + id;
                    }
                }
                if (s >= warmup) {
                    Generator.Stats st = g.stats();
                    int i = s - warmup;
                    decode[i] = st.decodeTokens / (st.decodeNanos / 1e9);
                    withPrefill[i] = (st.prefillTokens + st.decodeTokens) / ((st.prefillNanos + st.decodeNanos) / 1e9);
                    prefillMs[i] = st.prefillNanos / 1e6;
                    msPerStep[i] = st.decodeNanos / 1e6 / st.decodeSteps;
                }
            }
        }
        ObjectNode o = new ObjectMapper().createObjectNode();
        o.put("engine", "dynalora");
        o.put("mode", "generate");
        o.put("java", Runtime.version().toString());
        o.put("threads", threads.resolve());
        o.put("batch", batch);
        o.put("prompt_len", promptLen);
        o.put("new_tokens", newTokens);
        o.put("decode_path", noGemv ? "gemm" : "gemv");
        o.put("tokens_per_s", BenchSupport.round(BenchSupport.median(decode), 1));
        o.put("ms_per_decode_step", BenchSupport.round(BenchSupport.median(msPerStep), 3));
        o.put("prefill_ms", BenchSupport.round(BenchSupport.median(prefillMs), 2));
        o.put("tokens_per_s_incl_prefill", BenchSupport.round(BenchSupport.median(withPrefill), 1));
        o.put("peak_rss_mb", BenchSupport.peakRssMb());
        o.put("check", check);
        System.out.println(o);
        return 0;
    }
}
