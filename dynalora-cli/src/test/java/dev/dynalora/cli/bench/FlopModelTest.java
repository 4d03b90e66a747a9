package dev.dynalora.cli.bench;

import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.models.bert.BertEncoder;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.RandomWeights;
import dev.dynalora.models.bert.PretrainedBert;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The analytic FLOP counts of bench speed, checked against sums worked out by hand. */
class FlopModelTest {
    /** 2 layers, hidden 4, intermediate 8, 2 heads; batch 1 x seq 3, so N = 3 tokens. */
    private static final ModelConfig TINY = ModelConfig.bert(40, 4, 2, 2, 8, 16);

    @Test
    void inferenceOfATinyEncoder() {
        // Per layer: Q, K, V, attention output 4 x 2*3*4*4 = 384; FFN up and down 2 x 2*3*4*8 = 384;
        // attention Q K^T and P V 2 x 2*3*3*4 = 144. Two layers: 2 x (384 + 384 + 144).
        assertEquals(1824, FlopModel.inference(TINY, 1, 3));
    }

    @Test
    void loraTrainingStepOfATinyEncoder() {
        LoraConfig lora = LoraConfig.of(1, 16, "query,value", false, 0f, 0);
        // Linear layers forward: 2 x 768 = 1536. Attention forward: 2 x 144 = 288.
        // LoRA r=1 on query and value of both layers: 4 modules x (2*3*1*4 down + 2*3*1*4 up) = 192.
        // Head on the one [CLS] row: pooler 2*1*4*4 = 32, classifier 2*1*4*2 = 16.
        long forward = 1536 + 288 + 192 + 48;
        // Data gradients: the linear layers minus layer 0's query, key and value (their input comes from the
        // frozen embeddings): 1536 - 3*96 = 1248; attention twice: 576; LoRA: layer 1 both sides (2 x 48),
        // layer 0 only the up side's (2 x 24); head 48.
        long data = 1248 + 576 + 96 + 48 + 48;
        // Weight gradients: LoRA's A and B (192) and the head (48) only; base weights are frozen.
        long weight = 192 + 48;
        assertEquals(forward + data + weight, FlopModel.adapterStep(TINY, 1, 3, lora, 2));
        assertEquals(4320, forward + data + weight);
    }

    @Test
    void miniLmForwardAtBatch32Seq128() {
        ModelConfig c = PretrainedBert.bertConfig(dev.dynalora.cli.CliRunner.miniLm());
        // 6 layers x (8 N H^2 + 4 N H I + 4 N T H), N = 4096, H = 384, I = 1536, T = 128:
        // 6 x (4,831,838,208 + 9,663,676,416 + 805,306,368).
        assertEquals(91_804_925_952L, FlopModel.inference(c, 32, 128));
    }

    @Test
    void moduleListMatchesTheRealEncoder() {
        // The names adapters match and the shapes must be the encoder's own, or LoRA FLOPs would be counted on
        // modules that are not adapted.
        BertEncoder enc = new BertEncoder(TINY, new RandomWeights(1, 0.02));
        List<LinearModule> real = enc.linearModules();
        List<FlopModel.Linear> ours = FlopModel.linears(TINY);
        assertEquals(real.size(), ours.size());
        for (int i = 0; i < real.size(); i++) {
            assertEquals(real.get(i).name(), ours.get(i).name());
            assertEquals(real.get(i).in(), ours.get(i).in(), real.get(i).name());
            assertEquals(real.get(i).out(), ours.get(i).out(), real.get(i).name());
        }
    }
}
