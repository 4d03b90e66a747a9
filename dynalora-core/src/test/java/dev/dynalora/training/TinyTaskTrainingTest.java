package dev.dynalora.training;

import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.data.PaddedBatch;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.models.bert.SequenceClassifier;
import dev.dynalora.models.TinyBert;
import dev.dynalora.tensor.Param;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Training works end to end on a tiny synthetic task (label = whether token 5 occurs in the sequence):
 * full, head-only and LoRA training drive the loss near zero; head-only training leaves every encoder
 * weight bit-identical; two runs with the same seed and thread count are bit-identical.
 */
class TinyTaskTrainingTest {
    static CpuKernels k;

    @BeforeAll
    static void open() {
        k = new CpuKernels(2);
    }

    @AfterAll
    static void close() {
        k.close();
    }

    static PaddedBatch data(int[] labels) {
        SplittableRandom r = new SplittableRandom(3);
        List<int[]> ids = new ArrayList<>();
        for (int e = 0; e < labels.length; e++) {
            int len = 4 + r.nextInt(6);
            int[] s = new int[len];
            s[0] = 1;
            for (int i = 1; i < len; i++) {
                s[i] = 6 + r.nextInt(30);
            }
            if (labels[e] == 1) {
                s[1 + r.nextInt(len - 1)] = 5;
            }
            ids.add(s);
        }
        return PaddedBatch.of(ids, null, 0);
    }

    static final int[] LABELS = {0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1};

    static float train(SequenceClassifier m, List<Param> params, float lr, int steps) {
        PaddedBatch b = data(LABELS);
        ClassifierStep step = new ClassifierStep(m, params, new AdamW(params, 0f), 1.0);
        float loss = Float.NaN;
        for (int s = 0; s < steps; s++) {
            loss = step.step(k, b, LABELS, null, lr, 9, s).loss();
        }
        return step.lossAndGradients(k, b, LABELS, null, false, 0, 0);
    }

    @Test
    void fullFineTuningFitsToNearZeroLoss(@TempDir Path dir) throws Exception {
        ModelConfig c = TinyBert.config(dir, 2, 16, 2, 32, 0.0);
        SequenceClassifier m = TinyBert.classifier(c, 2, 1);
        float loss = train(m, MethodSetup.apply(m, Method.FULL, null), 3e-3f, 150);
        assertTrue(loss < 0.02, "final loss " + loss);
    }

    @Test
    void headOnlyTrainingFitsAndLeavesEncoderBitIdentical(@TempDir Path dir) throws Exception {
        ModelConfig c = TinyBert.config(dir, 2, 32, 2, 32, 0.0);
        SequenceClassifier m = TinyBert.classifier(c, 2, 1);
        List<float[]> before = new ArrayList<>();
        for (Param p : m.encoder().params()) {
            before.add(p.data().clone());
        }
        List<Param> params = MethodSetup.apply(m, Method.HEAD, null);
        assertEquals(4, params.size());
        float loss = train(m, params, 2e-2f, 300);
        assertTrue(loss < 0.1, "final loss " + loss);
        List<Param> enc = m.encoder().params();
        for (int i = 0; i < enc.size(); i++) {
            assertArrayEquals(before.get(i), enc.get(i).data(), enc.get(i).name() + " changed");
            assertTrue(enc.get(i).grad() == null, "frozen " + enc.get(i).name() + " has a gradient buffer");
        }
    }

    @Test
    void loraFitsAndIsDeterministic(@TempDir Path dir) throws Exception {
        ModelConfig c = TinyBert.config(dir, 2, 16, 2, 32, 0.1);
        float[] first = null;
        for (int run = 0; run < 2; run++) {
            SequenceClassifier m = TinyBert.classifier(c, 2, 1);
            List<Param> params = MethodSetup.apply(m, Method.LORA, LoraConfig.of(4, 8f, "query,value,dense", false, 0f, 2));
            float loss = train(m, params, 1e-2f, 150);
            assertTrue(loss < 0.05, "final loss " + loss);
            float[] a = params.get(0).data().clone();
            if (first == null) {
                first = a;
            } else {
                assertArrayEquals(first, a, "same seed and threads must give identical weights");
            }
        }
    }
}
