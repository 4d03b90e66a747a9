package dev.dynalora.spark;

import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.models.bert.BertEncoder;
import dev.dynalora.models.bert.PretrainedBert;
import dev.dynalora.models.bert.SentenceEmbeddings;
import dev.dynalora.tokenize.Encoding;
import dev.dynalora.tokenize.TextTokenizer;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A model folder's BERT encoder and tokenizer loaded for embedding, once per JVM (as {@link LoadedRun} for a
 * classifier run): keyed by the folder, the maximum length and the thread count; forward passes take turns.
 */
final class LoadedEncoder {
    private static final Map<String, LoadedEncoder> CACHE = new ConcurrentHashMap<>();

    private final BertEncoder encoder;
    private final TextTokenizer tokenizer;
    private final CpuKernels kernels;

    private LoadedEncoder(Path modelDir, int maxLen, int threads) {
        encoder = PretrainedBert.loadEncoder(modelDir);
        tokenizer = TextTokenizer.load(modelDir, maxLen);
        kernels = new CpuKernels(threads);
    }

    static LoadedEncoder get(String modelDir, int maxLen, int threads) {
        return CACHE.computeIfAbsent(modelDir + "\u0000" + maxLen + "\u0000" + threads,
                k -> new LoadedEncoder(Path.of(modelDir), maxLen, threads));
    }

    static synchronized void clear() {
        for (LoadedEncoder e : CACHE.values()) {
            e.tokenizer.close();
            e.kernels.close();
        }
        CACHE.clear();
    }

    /** Embeddings of one batch of texts (b null for single sentences), as dynalora embed computes them. */
    float[][] embed(List<String> a, List<String> b, boolean cls, boolean normalize) {
        List<int[]> ids = new ArrayList<>(a.size());
        List<int[]> types = new ArrayList<>(a.size());
        for (int i = 0; i < a.size(); i++) {
            Encoding e = b == null ? tokenizer.encode(a.get(i)) : tokenizer.encodePair(a.get(i), b.get(i));
            ids.add(e.ids());
            types.add(e.typeIds());
        }
        synchronized (this) {
            return SentenceEmbeddings.embed(kernels, encoder, ids, types, tokenizer.padId(), cls, normalize);
        }
    }
}
