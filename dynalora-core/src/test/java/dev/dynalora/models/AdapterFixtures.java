package dev.dynalora.models;

import dev.dynalora.models.bert.SequenceClassifier;

import dev.dynalora.adapters.AdaLoraAdapter;
import dev.dynalora.adapters.AdaLoraAllocator;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.data.PaddedBatch;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.kernels.ReferenceKernels;
import dev.dynalora.tensor.Param;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Tiny random classifiers with LoRA adapters, and their logits, for the adapter file and merge tests. */
public final class AdapterFixtures {
    public static final int LABELS = 3;
    public static final String Q0 = "encoder.layer.0.attention.self.query";
    public static final String V0 = "encoder.layer.0.attention.self.value";
    public static final String Q1 = "encoder.layer.1.attention.self.query";

    private AdapterFixtures() {
    }

    /** The same base model for the same seed: encoder and head drawn from one RandomWeights stream. */
    public static SequenceClassifier model(ModelConfig c, long seed, int labels) {
        return TinyBert.classifier(c, labels, seed);
    }

    /** A batch with padding and a sentence pair, so masks and token types are exercised. */
    public static PaddedBatch batch() {
        List<int[]> ids = List.of(new int[] {1, 5, 7, 9, 2}, new int[] {1, 11, 12, 2, 13, 14, 2}, new int[] {1, 3, 2});
        List<int[]> types = List.of(new int[] {0, 0, 0, 0, 0}, new int[] {0, 0, 0, 0, 1, 1, 1}, new int[] {0, 0, 0});
        return PaddedBatch.of(ids, types, 0);
    }

    /** Inference logits [batch, labels], copied out of the model's buffer. */
    public static float[] logits(SequenceClassifier m) {
        PaddedBatch b = batch();
        TokenBatch tb = new TokenBatch(b.batch(), b.seqLen(), b.attentionMask(), false, 0L, 0L);
        return m.forward(new ReferenceKernels(), b.ids(), b.typeIds(), tb, false).clone();
    }

    /**
     * Attaches LoRA adapters (the ordinary constructor, as training builds them) to the encoder modules whose
     * last path component is in {@code targets}, with random non-zero B (zero B would hide A from every test).
     */
    public static void attach(SequenceClassifier m, List<String> targets, int rank, float alpha, boolean rsLora,
                       boolean masked, boolean gated, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int i = 0;
        for (LinearModule lm : m.encoder().linearModules()) {
            if (!targets.contains(lm.shortName())) {
                continue;
            }
            LoraAdapter a = new LoraAdapter(lm.name(), lm.in(), lm.out(), rank, alpha, rsLora, masked, gated, seed + i++);
            GradientCheck.randomize(a.loraB().data(), r, 0.3);
            if (gated) {
                GradientCheck.randomize(a.gateWeight().data(), r, 0.5);
                a.gateBias().data()[0] = 0.3f;
            }
            lm.setAdapter(a);
        }
    }

    /** Overwrites the head (pooler and classifier) with other random values. */
    public static void scrambleHead(SequenceClassifier m, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        for (Param p : m.headParams()) {
            GradientCheck.randomize(p.data(), r, 0.4);
        }
    }

    public static void assertClose(float[] expected, float[] actual, double tol) {
        assertTrue(expected.length == actual.length, "lengths differ");
        for (int i = 0; i < expected.length; i++) {
            assertTrue(Math.abs(expected[i] - actual[i]) <= tol,
                    "index " + i + ": expected " + expected[i] + " got " + actual[i] + " (tolerance " + tol + ")");
        }
    }

    /** AdaLoRA adapters of init_r 4 on query and value with random A, E, B; some triplets pruned (E = 0). */
    public static void attachAdaLora(SequenceClassifier m, float alpha) {
        SplittableRandom r = new SplittableRandom(13);
        int i = 0;
        for (LinearModule lm : m.encoder().linearModules()) {
            if (!lm.shortName().equals("query") && !lm.shortName().equals("value")) {
                continue;
            }
            AdaLoraAdapter a = new AdaLoraAdapter(lm.name(), lm.in(), lm.out(), 4, alpha, 20 + i++);
            GradientCheck.randomize(a.loraA().data(), r, 0.4);
            GradientCheck.randomize(a.loraB().data(), r, 0.4);
            GradientCheck.randomize(a.loraE().data(), r, 1.0);
            float[] e = a.loraE().data();
            switch (lm.name()) {
                case Q0 -> {
                    e[1] = 0f;
                    e[3] = 0f;
                }
                case V0 -> Arrays.fill(e, 0f); // every triplet pruned
                case Q1 -> e[0] = 0f;
                default -> { } // layer 1 value keeps all four
            }
            lm.setAdapter(a);
        }
    }

    public static AdaLoraAllocator.Config adaLoraSchedule() {
        return new AdaLoraAllocator.Config(4, 2, 3, 4, 2, 0.85, 0.85, 0.5, 20);
    }
}
