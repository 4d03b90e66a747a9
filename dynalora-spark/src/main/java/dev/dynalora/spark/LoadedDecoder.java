package dev.dynalora.spark;

import dev.dynalora.cli.DecoderAdapters;
import dev.dynalora.generation.Completion;
import dev.dynalora.generation.GenerationConfig;
import dev.dynalora.generation.Generator;
import dev.dynalora.generation.PromptTokenizer;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.models.AutoModels;
import dev.dynalora.models.CausalLm;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A decoder (with its adapter, if any) and its tokenizer loaded for generation once per JVM, as
 * {@link LoadedEncoder} is for embedding: keyed by the model folder, the adapter folder and the thread count;
 * the tasks of an executor take turns on it. Generation is batch-invariant (see {@link Generator}), so taking
 * turns changes no result.
 */
final class LoadedDecoder {
    private static final Map<String, LoadedDecoder> CACHE = new ConcurrentHashMap<>();

    private final CausalLm model;
    private final PromptTokenizer tokenizer;
    private final CpuKernels kernels;
    private final Generator generator;

    private LoadedDecoder(Path modelDir, Path adapterDir, int threads) {
        model = AutoModels.causalLm(modelDir);
        tokenizer = PromptTokenizer.load(modelDir, model.bosTokenId());
        if (adapterDir != null) {
            DecoderAdapters.apply(model, modelDir, adapterDir);
        }
        kernels = new CpuKernels(threads);
        generator = new Generator(model, kernels, tokenizer);
    }

    static LoadedDecoder get(String modelDir, String adapterDir, int threads) {
        return CACHE.computeIfAbsent(modelDir + "\u0000" + adapterDir + "\u0000" + threads,
                k -> new LoadedDecoder(Path.of(modelDir), adapterDir == null ? null : Path.of(adapterDir), threads));
    }

    static synchronized void clear() {
        for (LoadedDecoder d : CACHE.values()) {
            d.tokenizer.close();
            d.kernels.close();
        }
        CACHE.clear();
    }

    /** The prompt's token ids, as generate encodes a prompt (BOS as the tokenizer configuration says). */
    int[] encode(String prompt) {
        return tokenizer.encode(prompt);
    }

    int context() {
        return model.maxPositions();
    }

    /**
     * Completions of consecutive prompts whose first is prompt {@code firstIndex} of the whole input, so that a
     * sampled completion is what one generate call over the whole input gives that prompt.
     */
    synchronized List<Completion> generate(List<int[]> prompts, long firstIndex, GenerationConfig config, int batch) {
        return generator.generate(prompts, firstIndex, config, batch, null);
    }
}
