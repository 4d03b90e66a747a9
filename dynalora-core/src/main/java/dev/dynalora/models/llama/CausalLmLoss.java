package dev.dynalora.models.llama;

import dev.dynalora.layers.CrossEntropy;

/**
 * The targets of causal language modelling, as Hugging Face's LlamaForCausalLM defines its loss: labels are
 * aligned with the input ids (usually a copy of them, with {@link #IGNORE} where no loss is wanted), and the
 * logits at position i are scored against the label at position i + 1. The last position of each example
 * has no next token and is ignored.
 */
public final class CausalLmLoss {
    /** A label that is excluded from the loss (PyTorch's ignore_index). */
    public static final int IGNORE = CrossEntropy.IGNORE_INDEX;

    private CausalLmLoss() {
    }

    /**
     * Per-row targets [batch * seqLen] for the cross-entropy over the logits: target(b, i) = labels(b, i + 1),
     * and IGNORE at i = seqLen - 1.
     */
    public static int[] shiftedTargets(int[] labels, int batch, int seqLen) {
        if (labels.length < batch * seqLen) {
            throw new IllegalArgumentException("labels has " + labels.length + " entries, need " + batch * seqLen);
        }
        int[] t = new int[batch * seqLen];
        for (int b = 0; b < batch; b++) {
            int base = b * seqLen;
            for (int i = 0; i < seqLen - 1; i++) {
                t[base + i] = labels[base + i + 1];
            }
            t[base + seqLen - 1] = IGNORE;
        }
        return t;
    }

    /** Labels for plain language modelling: the ids themselves, IGNORE at padding (attention mask 0). */
    public static int[] labelsFromIds(int[] ids, int[] attentionMask) {
        if (attentionMask.length != ids.length) {
            throw new IllegalArgumentException("attention mask has " + attentionMask.length + " entries, ids " + ids.length);
        }
        int[] l = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            l[i] = attentionMask[i] != 0 ? ids[i] : IGNORE;
        }
        return l;
    }
}
