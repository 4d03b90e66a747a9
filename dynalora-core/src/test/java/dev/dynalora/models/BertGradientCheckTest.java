package dev.dynalora.models;

import dev.dynalora.models.bert.SequenceClassifier;

import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.data.PaddedBatch;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.tensor.Param;
import dev.dynalora.training.AdamW;
import dev.dynalora.training.ClassifierStep;
import dev.dynalora.training.Method;
import dev.dynalora.training.MethodSetup;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertNotEquals;

/**
 * Gradient check of a whole random 2-layer BERT with a classification head: the analytic gradient of every
 * parameter tensor, sampled at several coordinates, against central differences of the float32 loss
 * (eps 1e-2 on weights of scale 0.2; tolerance: |analytic - numeric| <= 2e-3 + 5e-2 |numeric|). The batch
 * has padding and a sentence pair (token types 0 and 1), so the mask and token-type paths are covered.
 * The adapter methods are also checked with lora_dropout on.
 */
class BertGradientCheckTest {
    static Kernels k;

    @BeforeAll
    static void kernels() {
        k = new CpuKernels(2);
    }

    @AfterAll
    static void close() {
        ((CpuKernels) k).close();
    }

    static PaddedBatch batch() {
        List<int[]> ids = List.of(new int[] {1, 5, 7, 9, 2}, new int[] {1, 11, 12, 2, 13, 14, 2}, new int[] {1, 3, 2});
        List<int[]> types = List.of(new int[] {0, 0, 0, 0, 0}, new int[] {0, 0, 0, 0, 1, 1, 1}, new int[] {0, 0, 0});
        return PaddedBatch.of(ids, types, 0);
    }

    static final int[] LABELS = {0, 2, 1};

    @Test
    void fullFineTuningGradientsMatchFiniteDifferences(@TempDir Path dir) throws Exception {
        ModelConfig c = TinyBert.config(dir, 2, 8, 2, 12, 0.0);
        SequenceClassifier m = TinyBert.classifier(c, 3, 7);
        List<Param> params = MethodSetup.apply(m, Method.FULL, null);
        check(m, params, 3);
    }

    /**
     * Dynamic LoRA's gate per example (the default) and per token, padding included, uncentred and centred
     * (--gate-centre: the centre is a constant, so only the forward changes; the input gradient must still
     * match).
     */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"false, false", "true, false", "false, true", "true, true"})
    void loraAndDynamicGateGradientsMatchFiniteDifferences(boolean perToken, boolean centred, @TempDir Path dir)
            throws Exception {
        ModelConfig c = TinyBert.config(dir, 2, 8, 2, 12, 0.0);
        SequenceClassifier m = TinyBert.classifier(c, 3, 7);
        List<Param> params = MethodSetup.apply(m, Method.DYNAMIC, LoraConfig.of(2, 4f, "query,value,dense", false, 0f, 3));
        // B starts at zero, which would hide A's gradient; give B and the gate random values.
        SplittableRandom r = new SplittableRandom(5);
        for (LinearModule lm : m.encoder().linearModules()) {
            if (lm.adapter() instanceof LoraAdapter a) {
                a.setGatePerToken(perToken);
                GradientCheck.randomize(a.loraB().data(), r, 0.3);
                GradientCheck.randomize(a.gateWeight().data(), r, 0.5);
                a.gateBias().data()[0] = 0.2f;
                if (centred) {
                    float[] centre = new float[a.in()];
                    GradientCheck.randomize(centre, r, 0.5);
                    a.setGateCentre(centre);
                }
            }
        }
        check(m, params, 3);
    }

    /**
     * Adapter dropout on (hidden dropout stays 0): training mode fixes the mask for the step, so the loss is a
     * smooth function of the weights and central differences apply. LoRA and Dynamic LoRA with its gate.
     */
    @ParameterizedTest
    @EnumSource(value = Method.class, names = {"LORA", "DYNAMIC"})
    void adapterDropoutGradientsMatchFiniteDifferences(Method method, @TempDir Path dir) throws Exception {
        ModelConfig c = TinyBert.config(dir, 2, 8, 2, 12, 0.0);
        SequenceClassifier m = TinyBert.classifier(c, 3, 7);
        List<Param> params = MethodSetup.apply(m, method, LoraConfig.of(2, 4f, "query,value,dense", false, 0.3f, 3));
        SplittableRandom r = new SplittableRandom(5);
        for (LinearModule lm : m.encoder().linearModules()) {
            if (lm.adapter() instanceof LoraAdapter a) {
                GradientCheck.randomize(a.loraB().data(), r, 0.3);
                if (a.gated()) {
                    GradientCheck.randomize(a.gateWeight().data(), r, 0.5);
                }
            }
        }
        assertDropoutActive(m, params);
        check(m, params, 3, true);
    }

    /**
     * Hidden-state dropout (hidden_dropout_prob 0.2 after the embeddings, the attention output and the FFN):
     * in training mode the masks are a function of (seed, step), fixed across the finite differences, so the
     * backward pass through every dropout site is checked, for full fine-tuning and for LoRA.
     */
    @ParameterizedTest
    @EnumSource(value = Method.class, names = {"FULL", "LORA"})
    void hiddenDropoutGradientsMatchFiniteDifferences(Method method, @TempDir Path dir) throws Exception {
        ModelConfig c = TinyBert.config(dir, 2, 8, 2, 12, 0.2);
        SequenceClassifier m = TinyBert.classifier(c, 3, 7);
        List<Param> params = MethodSetup.apply(m, method,
                method == Method.LORA ? LoraConfig.of(2, 4f, "query,value,dense", false, 0f, 3) : null);
        SplittableRandom r = new SplittableRandom(6);
        for (LinearModule lm : m.encoder().linearModules()) {
            if (lm.adapter() instanceof LoraAdapter a) {
                GradientCheck.randomize(a.loraB().data(), r, 0.3);
            }
        }
        assertDropoutActive(m, params);
        check(m, params, 3, true);
    }

    /** The training loss differs from the evaluation loss: the dropout under test really drops. */
    static void assertDropoutActive(SequenceClassifier m, List<Param> params) {
        ClassifierStep step = new ClassifierStep(m, params, new AdamW(params, 0f), 0);
        float train = step.lossAndGradients(k, batch(), LABELS, null, true, 0, 0);
        float eval = step.lossAndGradients(k, batch(), LABELS, null, false, 0, 0);
        assertNotEquals(eval, train);
    }

    static void check(SequenceClassifier m, List<Param> params, int perTensor) {
        check(m, params, perTensor, false);
    }

    /** With {@code training}, every evaluation uses the same dropout masks (seed 0, step 0). */
    static void check(SequenceClassifier m, List<Param> params, int perTensor, boolean training) {
        PaddedBatch b = batch();
        ClassifierStep step = new ClassifierStep(m, params, new AdamW(params, 0f), 0);
        step.lossAndGradients(k, b, LABELS, null, training, 0, 0);
        GradientCheck.assertMatchesFiniteDifferences(params, perTensor,
                () -> step.lossAndGradients(k, b, LABELS, null, training, 0, 0));
    }
}
