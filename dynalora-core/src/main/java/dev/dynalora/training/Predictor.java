package dev.dynalora.training;

import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.data.BatchPlanner;
import dev.dynalora.data.PaddedBatch;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.models.bert.SequenceClassifier;

import java.util.function.LongConsumer;

/** Inference over a data set: logits [n, numLabels] in the examples' original order. */
public final class Predictor {
    private Predictor() {
    }

    public static float[] logits(Kernels k, SequenceClassifier model, EncodedExamples data, int batchSize, LongConsumer progress) {
        int c = model.numLabels();
        float[] out = new float[data.size() * c];
        for (int[] idx : BatchPlanner.evalBatches(data.lengths(), batchSize)) {
            PaddedBatch b = data.batch(idx);
            TokenBatch tb = new TokenBatch(b.batch(), b.seqLen(), b.attentionMask(), false, 0, 0);
            float[] logits = model.forward(k, b.ids(), b.typeIds(), tb, false);
            for (int j = 0; j < idx.length; j++) {
                System.arraycopy(logits, j * c, out, idx[j] * c, c);
            }
            if (progress != null) {
                progress.accept(idx.length);
            }
        }
        return out;
    }
}
