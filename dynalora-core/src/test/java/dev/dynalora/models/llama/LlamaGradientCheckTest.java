package dev.dynalora.models.llama;

import dev.dynalora.adapters.AdapterDropout;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.models.GradientCheck;
import dev.dynalora.models.LinearModule;
import dev.dynalora.tensor.Param;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Gradient check of a whole tiny random Llama (2 layers, grouped-query attention, odd sizes) with the causal
 * LM loss: the analytic gradient of every trainable tensor, sampled at several coordinates, against central
 * differences of the float32 loss (eps 1e-2 on weights of scale 0.2; tolerance |analytic - numeric| <=
 * 2e-3 + 5e-2 |numeric|, as BertGradientCheckTest). The batch is right-padded and has masked labels, so the
 * padding mask, the shift and the ignore index are all on the path.
 */
class LlamaGradientCheckTest {
    static Kernels k;

    @BeforeAll
    static void kernels() {
        k = new CpuKernels(2);
    }

    @AfterAll
    static void close() {
        ((CpuKernels) k).close();
    }

    /** Two examples, lengths 7 and 5 (right-padded to 7 with id 0). */
    static final int[] IDS = {1, 5, 7, 9, 2, 11, 28, 1, 12, 3, 4, 27, 0, 0};
    static final int[] MASK = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    /** Labels aligned with the ids: the first example's prompt (first 2 tokens) and the padding are ignored. */
    static final int[] LABELS = {-100, -100, 7, 9, 2, 11, 28, 1, 12, 3, 4, 27, -100, -100};

    static TokenBatch batch() {
        return new TokenBatch(2, 7, MASK, false, 0, 0);
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void fullFineTuningGradientsMatchFiniteDifferences(boolean tied, @TempDir Path dir) throws Exception {
        LlamaForCausalLM m = TinyLlama.model(TinyLlama.config(dir, tied), 7);
        for (Param p : m.params()) {
            p.setTrainable(true);
        }
        check(m, m.params(), 3);
    }

    /** LoRA on q_proj and v_proj (the PEFT default for Llama), everything else frozen. */
    @Test
    void loraOnQueryAndValueGradientsMatchFiniteDifferences(@TempDir Path dir) throws Exception {
        LlamaForCausalLM m = TinyLlama.model(TinyLlama.config(dir, true), 7);
        List<Param> params = attachLora(m, "q_proj,v_proj");
        assertEquals(8, params.size(), "A and B on 2 modules of 2 layers");
        check(m, params, 4);
    }

    /** LoRA on every projection of the top layer only: backward stops early and must still be right. */
    @Test
    void loraOnTheTopLayerOnly(@TempDir Path dir) throws Exception {
        LlamaForCausalLM m = TinyLlama.model(TinyLlama.config(dir, false), 9);
        List<Param> params = attachLora(m, "model\\.layers\\.1\\..*");
        assertEquals(14, params.size());
        params.add(m.model().norm());
        m.model().norm().setTrainable(true);
        check(m, params, 3);
        for (Param p : m.params()) {
            if (p != m.model().norm()) {
                assertNull(p.grad(), p.name() + " is frozen: no gradient buffer");
            }
        }
    }

    /** Attaches LoRA adapters as MethodSetup does for BERT, with B randomised (at zero it would hide A's gradient). */
    static List<Param> attachLora(LlamaForCausalLM m, String targets) {
        LoraConfig lora = LoraConfig.of(2, 4f, targets, false, 0f, 3);
        SplittableRandom r = new SplittableRandom(5);
        List<Param> params = new ArrayList<>();
        int site = 0;
        for (LinearModule lm : m.linearModules()) {
            if (!lora.targets(lm.name())) {
                continue;
            }
            LoraAdapter a = new LoraAdapter(lm.name(), lm.in(), lm.out(), lora.rankFor(lm.name()), lora.alphaFor(lm.name()),
                    false, false, false, lora.seed() * 1_000_003L + site++, AdapterDropout.NONE);
            GradientCheck.randomize(a.loraB().data(), r, 0.3);
            lm.setAdapter(a);
            params.addAll(a.params());
        }
        assertTrue(site > 0, "no module matched " + targets);
        return params;
    }

    static float lossAndGradients(LlamaForCausalLM m, List<Param> params) {
        for (Param p : params) {
            p.zeroGrad();
        }
        return m.lossAndGradients(k, IDS, LABELS, batch());
    }

    static void check(LlamaForCausalLM m, List<Param> params, int perTensor) {
        float loss = lossAndGradients(m, params);
        assertEquals(loss, m.loss(k, IDS, LABELS, batch()), 1e-6f, "the loss without backward is the same");
        GradientCheck.assertMatchesFiniteDifferences(params, perTensor, () -> m.loss(k, IDS, LABELS, batch()));
    }
}
