package dev.dynalora.models.llama;

import dev.dynalora.models.GradientCheck;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.kernels.ReferenceKernels;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.RandomWeights;
import dev.dynalora.models.WeightSource;
import dev.dynalora.tensor.Param;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/** A tiny random Llama for tests: written as a config.json so it goes through the real config reader. */
public final class TinyLlama {
    private TinyLlama() {
    }

    /**
     * Odd sizes on purpose: head dim 6 (a RoPE half of 3), 4 query heads over 2 kv heads (grouped-query
     * attention), an intermediate size of 13 and a vocabulary of 29.
     */
    public static LlamaConfig config(Path dir, boolean tied) throws IOException {
        return config(dir, 2, 24, 4, 2, 13, 29, tied, "");
    }

    public static LlamaConfig config(Path dir, int layers, int hidden, int heads, int kvHeads, int ffn, int vocab, boolean tied,
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

    public static LlamaForCausalLM model(LlamaConfig c, long seed) {
        return new LlamaForCausalLM(c, weights(seed, 0.2, null));
    }

    static Map<String, Param> newRecord() {
        return new LinkedHashMap<>();
    }

    /**
     * Inference logits [rows, vocab] of a right-padded batch of two sequences (7 and 5 tokens, ids below the tiny
     * vocabulary of 29), copied out of the model's buffer.
     */
    public static float[] logits(LlamaForCausalLM m) {
        int[] ids = {1, 5, 7, 9, 3, 11, 2, 1, 4, 4, 8, 2, 0, 0};
        int[] mask = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
        return m.forward(new ReferenceKernels(), ids, new TokenBatch(2, 7, mask, false, 0L, 0L), false).clone();
    }

    /**
     * Attaches LoRA adapters (the training constructor) to the modules whose last path component is in
     * {@code targets}, the i-th of them with rank {@code ranks[i % ranks.length]}, and random non-zero B (zero B
     * would hide A from every test) and gates.
     */
    public static void attachLora(LlamaForCausalLM m, Set<String> targets, int[] ranks, float alpha, boolean rsLora,
                                  boolean masked, boolean gated, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int i = 0;
        for (LinearModule lm : m.linearModules()) {
            if (!targets.contains(lm.shortName())) {
                continue;
            }
            LoraAdapter a = new LoraAdapter(lm.name(), lm.in(), lm.out(), ranks[i % ranks.length], alpha, rsLora, masked,
                    gated, seed + i);
            i++;
            GradientCheck.randomize(a.loraB().data(), r, 0.3);
            if (gated) {
                GradientCheck.randomize(a.gateWeight().data(), r, 0.5);
                a.gateBias().data()[0] = 0.3f;
            }
            lm.setAdapter(a);
        }
    }
}
