package dev.dynalora.models;

import dev.dynalora.models.bert.SequenceClassifier;

import dev.dynalora.adapters.AdaLoraAdapter;
import dev.dynalora.adapters.AdapterDropout;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.tensor.Param;
import dev.dynalora.kernels.ReferenceKernels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Gradient check of a tiny BERT with AdaLoRA adapters on every linear layer, through the same harness as
 * {@link BertGradientCheckTest}, without and with lora_dropout. E starts at zero in PEFT, which would hide A's
 * and B's gradients, so E is randomised first.
 */
class AdaLoraGradientCheckTest {

    @BeforeAll
    static void kernels() {
        // The shared harness reads its kernels from this field, which its own class sets up only for itself.
        if (BertGradientCheckTest.k == null) {
            BertGradientCheckTest.k = new ReferenceKernels();
        }
    }

    @ParameterizedTest
    @ValueSource(floats = {0f, 0.3f})
    void adaLoraGradientsMatchFiniteDifferences(float dropout, @TempDir Path dir) throws Exception {
        ModelConfig c = TinyBert.config(dir, 2, 8, 2, 12, 0.0);
        SequenceClassifier m = TinyBert.classifier(c, 3, 7);
        for (Param p : m.allParams()) {
            p.setTrainable(false);
        }
        for (Param p : m.headParams()) {
            p.setTrainable(true);
        }
        List<Param> params = new ArrayList<>();
        SplittableRandom r = new SplittableRandom(5);
        int off = 0;
        AdapterDropout.Scratch scratch = new AdapterDropout.Scratch();
        for (LinearModule lm : m.encoder().linearModules()) {
            AdapterDropout d = dropout > 0 ? new AdapterDropout(dropout, off, scratch) : AdapterDropout.NONE;
            AdaLoraAdapter a = new AdaLoraAdapter(lm.name(), lm.in(), lm.out(), 3, 4f, 40 + off++, d);
            // Larger than PEFT's 0.02 init so that every path carries a visible gradient.
            GradientCheck.randomize(a.loraA().data(), r, 0.5);
            GradientCheck.randomize(a.loraB().data(), r, 0.5);
            GradientCheck.randomize(a.loraE().data(), r, 0.5);
            lm.setAdapter(a);
            params.addAll(a.params());
        }
        params.addAll(m.headParams());
        if (dropout > 0) {
            BertGradientCheckTest.assertDropoutActive(m, params);
        }
        BertGradientCheckTest.check(m, params, 3, dropout > 0);
    }
}
