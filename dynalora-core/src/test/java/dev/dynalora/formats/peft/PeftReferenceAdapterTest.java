package dev.dynalora.formats.peft;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.SharedData;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.kernels.ReferenceKernels;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.llama.LlamaForCausalLM;
import dev.dynalora.models.llama.PretrainedLlama;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A PEFT LoRA folder for stories260K written by the PyTorch reference's own writer (torch_llama_lora.py
 * --out-adapter; fixture made by make_reference_adapter.py beside it) loads, and base + adapter computes what the
 * reference computes with it: its --mode eval validation loss over the stored blocks, and its logits. Skipped when
 * ../shared is not there.
 */
class PeftReferenceAdapterTest {
    /** Relative agreement of the validation loss: both sides sum float32 cross-entropies, in a different order. */
    static final double LOSS_TOLERANCE = 1e-6;
    /** Absolute agreement of logits, as LlamaParityTest's forward parity. */
    static final double LOGIT_TOLERANCE = 1e-4;

    @Test
    void theReferencesAdapterLoadsAndGivesTheReferencesLossAndLogits() throws Exception {
        Path model = SharedData.modelOrSkip("stories260K");
        JsonNode fixture;
        try (InputStream in = getClass().getResourceAsStream("reference-adapter.json")) {
            assertNotNull(in, "fixture reference-adapter.json missing");
            fixture = new ObjectMapper().readTree(in);
        }
        Path folder = Path.of(getClass().getResource("reference-adapter").toURI());
        int seq = fixture.get("seq").asInt();
        int[][] blocks = new int[fixture.get("blocks").size()][];
        for (int b = 0; b < blocks.length; b++) {
            JsonNode ids = fixture.get("blocks").get(b);
            assertEquals(seq + 1, ids.size());
            blocks[b] = new int[seq + 1];
            for (int i = 0; i <= seq; i++) {
                blocks[b][i] = ids.get(i).asInt();
            }
        }

        LlamaForCausalLM m = PretrainedLlama.load(model);
        double base = meanLoss(m, blocks, seq, null);
        assertEquals(fixture.get("valid_loss_base").asDouble(), base, LOSS_TOLERANCE * base, "base model");

        LoraConfig cfg = PeftAdapters.load(folder, m);
        assertEquals(4, cfg.rank());
        assertEquals(6f, cfg.alpha());
        assertEquals(List.of("down_proj", "q_proj", "v_proj"), cfg.targetModules());
        int adapted = 0;
        for (LinearModule lm : m.linearModules()) {
            if (List.of("q_proj", "v_proj", "down_proj").contains(lm.shortName())) {
                LoraAdapter a = assertInstanceOf(LoraAdapter.class, lm.adapter(), lm.name());
                assertEquals(1.5f, a.scaling());
                adapted++;
            } else {
                assertNull(lm.adapter(), lm.name());
            }
        }
        assertEquals(fixture.get("adapter_modules").asInt(), adapted);

        float[][] logits = new float[1][];
        double loss = meanLoss(m, blocks, seq, logits);
        double want = fixture.get("valid_loss").asDouble();
        assertTrue(Math.abs(want - base) > 0.02, "the adapter must move the loss for this test to mean anything");
        assertEquals(want, loss, LOSS_TOLERANCE * want, "base + adapter: the reference's --mode eval valid_loss");
        int vocab = m.config().vocabSize();
        for (JsonNode p : fixture.get("logits")) {
            int pos = p.get("position").asInt();
            JsonNode ref = p.get("logits");
            assertEquals(vocab, ref.size());
            for (int v = 0; v < vocab; v++) {
                float got = logits[0][pos * vocab + v];
                assertTrue(Math.abs(got - ref.get(v).asDouble()) <= LOGIT_TOLERANCE,
                        "block 0 position " + pos + " id " + v + ": reference " + ref.get(v) + ", ours " + got);
            }
        }
    }

    /**
     * The mean next-token cross-entropy over every block (inputs block[0..seq), targets block[1..seq]), in double
     * from our float logits, as the reference's evaluate sums per-token losses over all blocks; with firstLogits,
     * also the logits of block 0.
     */
    static double meanLoss(LlamaForCausalLM m, int[][] blocks, int seq, float[][] firstLogits) {
        int n = blocks.length;
        int[] ids = new int[n * seq];
        for (int b = 0; b < n; b++) {
            System.arraycopy(blocks[b], 0, ids, b * seq, seq);
        }
        int[] mask = new int[n * seq];
        Arrays.fill(mask, 1);
        float[] lg = m.forward(new ReferenceKernels(), ids, new TokenBatch(n, seq, mask, false, 0L, 0L), false);
        int vocab = m.config().vocabSize();
        if (firstLogits != null) {
            firstLogits[0] = Arrays.copyOf(lg, seq * vocab);
        }
        double sum = 0;
        for (int b = 0; b < n; b++) {
            for (int t = 0; t < seq; t++) {
                int row = (b * seq + t) * vocab;
                double max = Double.NEGATIVE_INFINITY;
                for (int v = 0; v < vocab; v++) {
                    max = Math.max(max, lg[row + v]);
                }
                double z = 0;
                for (int v = 0; v < vocab; v++) {
                    z += Math.exp(lg[row + v] - max);
                }
                sum += max + Math.log(z) - lg[row + blocks[b][t + 1]];
            }
        }
        return sum / (n * seq);
    }
}
