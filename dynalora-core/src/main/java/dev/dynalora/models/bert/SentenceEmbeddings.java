package dev.dynalora.models.bert;

import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.data.PaddedBatch;
import dev.dynalora.kernels.Kernels;

import java.util.List;

/**
 * Sentence embeddings from a BERT encoder, as {@code dynalora embed} computes them (and dynalora-spark's embed):
 * one forward pass over a padded batch, then mean pooling over the non-padding tokens (accumulated in double)
 * or the first token's hidden state, optionally L2-normalised as sentence-transformers' Normalize does.
 */
public final class SentenceEmbeddings {
    private SentenceEmbeddings() {
    }

    /** The embedding of each encoded example of one batch (ids and token types as the tokenizer gave them). */
    public static float[][] embed(Kernels k, BertEncoder encoder, List<int[]> ids, List<int[]> types, int padId,
                                  boolean cls, boolean normalize) {
        PaddedBatch b = PaddedBatch.of(ids, types, padId);
        TokenBatch tb = new TokenBatch(b.batch(), b.seqLen(), b.attentionMask(), false, 0, 0);
        float[] hidden = encoder.forward(k, b.ids(), b.typeIds(), tb, false);
        int h = encoder.config().hiddenSize();
        float[][] out = new float[b.batch()][];
        for (int e = 0; e < b.batch(); e++) {
            out[e] = pool(hidden, b, e, h, cls, normalize);
        }
        return out;
    }

    static float[] pool(float[] hidden, PaddedBatch b, int e, int h, boolean cls, boolean normalize) {
        int t = b.seqLen();
        float[] emb = new float[h];
        if (cls) {
            System.arraycopy(hidden, e * t * h, emb, 0, h);
        } else {
            double[] acc = new double[h];
            int n = 0;
            for (int s = 0; s < t; s++) {
                if (b.attentionMask()[e * t + s] == 0) {
                    continue;
                }
                n++;
                int o = (e * t + s) * h;
                for (int j = 0; j < h; j++) {
                    acc[j] += hidden[o + j];
                }
            }
            for (int j = 0; j < h; j++) {
                emb[j] = (float) (acc[j] / Math.max(1, n));
            }
        }
        if (normalize) {
            double ss = 0;
            for (float v : emb) {
                ss += (double) v * v;
            }
            // sentence-transformers' Normalize: x / max(||x||, 1e-12)
            float inv = (float) (1.0 / Math.max(Math.sqrt(ss), 1e-12));
            for (int j = 0; j < h; j++) {
                emb[j] *= inv;
            }
        }
        return emb;
    }
}
