package dev.dynalora.training;

import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.data.BatchPlanner;
import dev.dynalora.data.GlueTask;
import dev.dynalora.evaluation.TaskMetrics;
import dev.dynalora.data.PaddedBatch;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.models.bert.SequenceClassifier;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
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

    /**
     * The prediction of each example as {@code dynalora predict} writes it: the GLUE label name of the largest
     * logit (the first on ties), or for a regression task (STS-B) the score clipped to [0, 5] with three decimals.
     */
    public static List<String> predictionTexts(GlueTask task, float[] logits, int numLabels) {
        int n = logits.length / numLabels;
        List<String> out = new ArrayList<>(n);
        if (task.isRegression()) {
            for (int i = 0; i < n; i++) {
                float v = Math.max(0f, Math.min(5f, logits[i]));
                out.add(String.format(Locale.ROOT, "%.3f", v));
            }
        } else {
            int[] pred = TaskMetrics.argmax(logits, numLabels);
            List<String> names = task.labelNames();
            for (int i = 0; i < n; i++) {
                out.add(names.get(pred[i]));
            }
        }
        return out;
    }

    /**
     * The class probabilities of one row of logits, in the task's label order: softmax in double precision,
     * rounded to float. The serving endpoint and the Spark predictor return these, so one definition keeps
     * their numbers the same.
     */
    public static float[] probabilities(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v);
        }
        double sum = 0;
        double[] e = new double[logits.length];
        for (int i = 0; i < logits.length; i++) {
            e[i] = Math.exp(logits[i] - max);
            sum += e[i];
        }
        float[] p = new float[logits.length];
        for (int i = 0; i < logits.length; i++) {
            p[i] = (float) (e[i] / sum);
        }
        return p;
    }
}
