package dev.dynalora.models.bert;

import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.data.PaddedBatch;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.TinyBert;
import dev.dynalora.tensor.Param;
import dev.dynalora.training.Method;
import dev.dynalora.training.MethodSetup;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A classifier reads only each example's first token, so the encoder's last layer may compute the first
 * tokens alone ({@link BertEncoder#forwardFirstTokens}). That must be the same function with the same
 * gradients as the full pass: the outputs at positions 0 and every trainable parameter's gradient are compared
 * between the two paths, for each training method, with padding and a sentence pair in the batch. Targets on
 * the modules after the attention make the last layer fall back to the full pass, which must agree too.
 */
class BertFirstTokensTest {

    @ParameterizedTest(name = "{0} on {1}")
    @CsvSource({"FULL,-,true", "HEAD,-,true", "LORA,'query,value',true", "ADALORA,'query,value',true",
            "DYNAMIC,'query,value',true", "LORA,'query,value,dense',false", "DYNAMIC,'query,key,value,dense',false"})
    void firstTokenPathEqualsTheFullPass(Method method, String targets, boolean skipsRows, @TempDir Path dir) throws Exception {
        ModelConfig c = TinyBert.config(dir, 3, 12, 3, 20, 0.0);
        SequenceClassifier m = TinyBert.classifier(c, 2, 7);
        LoraConfig lora = method.usesAdapters() ? LoraConfig.of(2, 4f, targets, false, 0f, 3) : null;
        List<Param> params = MethodSetup.apply(m, method, lora);
        SplittableRandom r = new SplittableRandom(5);
        for (LinearModule lm : m.encoder().linearModules()) {
            if (lm.adapter() instanceof LoraAdapter a) {
                fill(a.loraB().data(), r, 0.3); // B starts at zero, which would hide every gradient but B's
            }
        }
        BertEncoder enc = m.encoder();
        PaddedBatch b = PaddedBatch.of(List.of(new int[] {1, 5, 7, 9, 2}, new int[] {1, 11, 12, 2, 13, 14, 2}, new int[] {1, 3, 2}),
                List.of(new int[] {0, 0, 0, 0, 0}, new int[] {0, 0, 0, 0, 1, 1, 1}, new int[] {0, 0, 0}), 0);
        TokenBatch tb = new TokenBatch(b.batch(), b.seqLen(), b.attentionMask(), false, 0, 0);
        int h = c.hiddenSize();
        int t = b.seqLen();
        float[] dFirst = new float[b.batch() * h];
        fill(dFirst, r, 1.0);
        List<Param> trainable = new ArrayList<>(params);
        trainable.removeAll(m.headParams());
        try (CpuKernels k = new CpuKernels(2)) {
            zeroGrads(trainable);
            float[] first = enc.forwardFirstTokens(k, b.ids(), b.typeIds(), tb, true).clone();
            assertEquals(skipsRows, enc.lastForwardSkippedRows());
            if (!trainable.isEmpty()) {
                enc.backwardFirstTokens(k, dFirst, b.ids(), tb);
            }
            List<float[]> fast = grads(trainable);

            zeroGrads(trainable);
            float[] full = enc.forward(k, b.ids(), b.typeIds(), tb, true);
            float[] dHidden = new float[b.batch() * t * h];
            for (int e = 0; e < b.batch(); e++) {
                for (int j = 0; j < h; j++) {
                    assertEquals(full[e * t * h + j], first[e * h + j], 1e-5, "hidden state of example " + e);
                }
                System.arraycopy(dFirst, e * h, dHidden, e * t * h, h);
            }
            if (!trainable.isEmpty()) {
                enc.backward(k, dHidden, b.ids(), tb);
            }
            List<float[]> reference = grads(trainable);
            // Tolerance relative to the largest gradient: some are zero up to rounding in both paths (a key
            // bias shifts every score of a row alike, which the softmax ignores).
            int nonZero = 0;
            double scale = 1e-6;
            for (float[] g : reference) {
                for (float x : g) {
                    scale = Math.max(scale, Math.abs(x));
                    nonZero += x != 0f ? 1 : 0;
                }
            }
            for (int i = 0; i < trainable.size(); i++) {
                float[] g = reference.get(i);
                for (int j = 0; j < g.length; j++) {
                    assertEquals(g[j], fast.get(i)[j], 1e-5 * scale, trainable.get(i).name() + "[" + j + "]");
                }
            }
            assertTrue(trainable.isEmpty() || nonZero > 0, "every gradient is zero: nothing was compared");
        }
    }

    private static void fill(float[] x, SplittableRandom r, double scale) {
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (r.nextGaussian() * scale);
        }
    }

    private static void zeroGrads(List<Param> ps) {
        for (Param p : ps) {
            Arrays.fill(p.grad(), 0f);
        }
    }

    private static List<float[]> grads(List<Param> ps) {
        List<float[]> out = new ArrayList<>();
        for (Param p : ps) {
            out.add(p.grad().clone());
        }
        return out;
    }
}
