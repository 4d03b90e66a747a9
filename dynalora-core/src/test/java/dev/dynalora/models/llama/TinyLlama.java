package dev.dynalora.models.llama;

import dev.dynalora.models.RandomWeights;
import dev.dynalora.models.WeightSource;
import dev.dynalora.tensor.Param;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/** A tiny random Llama for tests: written as a config.json so it goes through the real config reader. */
final class TinyLlama {
    private TinyLlama() {
    }

    /**
     * Odd sizes on purpose: head dim 6 (a RoPE half of 3), 4 query heads over 2 kv heads (grouped-query
     * attention), an intermediate size of 13 and a vocabulary of 29.
     */
    static LlamaConfig config(Path dir, boolean tied) throws IOException {
        return config(dir, 2, 24, 4, 2, 13, 29, tied, "");
    }

    static LlamaConfig config(Path dir, int layers, int hidden, int heads, int kvHeads, int ffn, int vocab, boolean tied,
                              String extra) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), """
                {"model_type": "llama", "vocab_size": %d, "hidden_size": %d, "num_hidden_layers": %d,
                 "num_attention_heads": %d, "num_key_value_heads": %d, "intermediate_size": %d,
                 "max_position_embeddings": 16, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
                 "tie_word_embeddings": %s, "bos_token_id": 1, "eos_token_id": 2%s}
                """.formatted(vocab, hidden, layers, heads, kvHeads, ffn, tied, extra));
        return LlamaConfig.read(dir);
    }

    /**
     * Random weights of scale std; norm gains 1 + noise (RandomWeights alone would draw them around 0, which
     * shrinks every block's input to nearly nothing). Every tensor is also recorded in {@code record} when
     * not null, by name, so a test can write the model out as a checkpoint.
     */
    static WeightSource weights(long seed, double std, Map<String, Param> record) {
        RandomWeights base = new RandomWeights(seed, std);
        SplittableRandom r = new SplittableRandom(seed + 1);
        return (name, shape) -> {
            Param p = base.param(name, shape);
            if (name.endsWith("norm.weight")) {
                float[] d = p.data();
                for (int i = 0; i < d.length; i++) {
                    d[i] = (float) (1 + 0.3 * (r.nextDouble() * 2 - 1));
                }
            }
            if (record != null) {
                record.put(name, p);
            }
            return p;
        };
    }

    static LlamaForCausalLM model(LlamaConfig c, long seed) {
        return new LlamaForCausalLM(c, weights(seed, 0.2, null));
    }

    static Map<String, Param> newRecord() {
        return new LinkedHashMap<>();
    }
}
