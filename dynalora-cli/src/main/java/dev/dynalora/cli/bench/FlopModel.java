package dev.dynalora.cli.bench;

import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.formats.ModelConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * Model FLOPs of one benchmark step of a BERT encoder, counted analytically from its configuration, for model
 * FLOPs utilisation (achieved FLOP/s over the machine's peak). Only matrix products count, at 2 FLOPs per
 * multiply-add; element-wise work (embeddings, layer norm, softmax, GELU, dropout, the loss, AdamW) is left
 * out, as in the usual MFU convention. With N = batch x seq tokens, T = seq, H = hidden size, I =
 * intermediate size, L = layers, C = labels, B = batch:
 *
 * <pre>
 * linear forward     L (4 * 2NHH + 2 * 2NHI)       query, key, value, attention output; FFN up and down
 * attention forward  L (2NTH + 2NTH)                scores Q K^T and context P V, all heads together
 * LoRA forward       sum over adapted modules of 2N r (in + out)    x A^T, then (x A^T) B^T
 * head forward       2BHH + 2BHC                    pooler and classifier on the [CLS] rows
 *
 * inference step     linear + attention forward     (bench forward's LoRA and head add under 0.1% and are left out)
 * training step      forward + data gradients + weight gradients, where
 *   forward          linear + attention + LoRA + head forward
 *   data gradients   the input gradient of every product: as much as its forward for a linear layer (dX = dY W),
 *                    twice the forward for an attention product (both operands get one, in every layer),
 *                    except where a linear layer's input is the output of the frozen embeddings (the first
 *                    layer's query, key and value, and the input side of their LoRA factors): nothing needs it
 *   weight gradients only for trainable weights, as much as their forward each (dW = dY^T X): LoRA's A and B
 *                    and the head (pooler and classifier) for the adapter methods
 * </pre>
 *
 * These are model FLOPs: the computation as the reference does it, every token through every layer. A classifier
 * reads only the [CLS] token, so dynalora's last layer computes the other tokens' keys and values only (see
 * BertEncoder.forwardFirstTokens) and executes about 13% fewer FLOPs than counted here for a 6-layer model; its
 * MFU is the usual model FLOPs utilisation, not the share of the machine's peak its arithmetic occupies.
 *
 * The pooler counts although PyTorch's reference has none (2BHH is about 0.01% of a MiniLM step at seq 128), so
 * that both engines are divided by the same number; Dynamic LoRA's per-example gate (a few FLOPs per token) is
 * left out, so that the same FLOPs stand for LoRA and Dynamic LoRA steps at the same rank.
 */
public final class FlopModel {
    private FlopModel() {
    }

    /** A linear layer of the encoder, under the name adapters match; embeddingInput: it reads the embeddings. */
    record Linear(String name, int in, int out, boolean embeddingInput) {
    }

    /** The encoder's linear layers in BertEncoder.linearModules() order, with its module names. */
    static List<Linear> linears(ModelConfig c) {
        int h = c.hiddenSize();
        int i = c.intermediateSize();
        List<Linear> m = new ArrayList<>();
        for (int l = 0; l < c.numHiddenLayers(); l++) {
            String p = "encoder.layer." + l + ".";
            m.add(new Linear(p + "attention.self.query", h, h, l == 0));
            m.add(new Linear(p + "attention.self.key", h, h, l == 0));
            m.add(new Linear(p + "attention.self.value", h, h, l == 0));
            m.add(new Linear(p + "attention.output.dense", h, h, false));
            m.add(new Linear(p + "intermediate.dense", h, i, false));
            m.add(new Linear(p + "output.dense", i, h, false));
        }
        return m;
    }

    /** FLOPs of the encoder's forward pass on batch x seq tokens (what bench forward times). */
    public static long inference(ModelConfig c, int batch, int seq) {
        long n = (long) batch * seq;
        long flops = 0;
        for (Linear m : linears(c)) {
            flops += 2 * n * m.in() * m.out();
        }
        return flops + attention(c, batch, seq);
    }

    /**
     * FLOPs of one training step of LoRA (or Dynamic LoRA at the same rank) on the modules lora targets, base
     * weights frozen, the head (pooler and a classifier with {@code labels} outputs) trained in full.
     */
    public static long adapterStep(ModelConfig c, int batch, int seq, LoraConfig lora, int labels) {
        long n = (long) batch * seq;
        long h = c.hiddenSize();
        long linearForward = 0;
        long linearData = 0;
        long loraForward = 0;
        long loraData = 0;
        for (Linear m : linears(c)) {
            long base = 2 * n * m.in() * m.out();
            linearForward += base;
            if (!m.embeddingInput()) {
                linearData += base;
            }
            if (lora.targets(m.name())) {
                long r = lora.rankFor(m.name());
                long down = 2 * n * r * m.in(); // u = x A^T
                long up = 2 * n * r * m.out();  // y += u B^T
                loraForward += down + up;
                // du = dy B is always needed (for dA); dx = du A only where something below needs it.
                loraData += up + (m.embeddingInput() ? 0 : down);
            }
        }
        long attention = attention(c, batch, seq);
        long head = 2L * batch * h * h + 2L * batch * h * labels;
        long forward = linearForward + attention + loraForward + head;
        long data = linearData + 2 * attention + loraData + head;
        long weight = loraForward + head;
        return forward + data + weight;
    }

    /** Q K^T and P V of every layer: 2 products of 2 N T H FLOPs each (summed over heads, H = heads x head dim). */
    static long attention(ModelConfig c, int batch, int seq) {
        long n = (long) batch * seq;
        return c.numHiddenLayers() * 2 * (2 * n * seq * c.hiddenSize());
    }
}
