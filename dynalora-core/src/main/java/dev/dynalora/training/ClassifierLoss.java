package dev.dynalora.training;

import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.data.PaddedBatch;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.layers.CrossEntropy;
import dev.dynalora.layers.MeanSquaredError;
import dev.dynalora.models.bert.SequenceClassifier;

import java.util.Arrays;

/**
 * Forward, loss and backward of a sequence classifier on one batch: cross-entropy over the labels, or mean
 * squared error when the model has one output (regression). Holds the logit-sized buffers between calls.
 */
final class ClassifierLoss {
    private final SequenceClassifier model;
    private float[] probs = new float[0];
    private float[] dLogits = new float[0];
    private float[] preds = new float[0];

    ClassifierLoss(SequenceClassifier model) {
        this.model = model;
    }

    /** The loss; gradients accumulated into the model's trainable parameters and adapters. */
    float lossAndGradients(Kernels k, PaddedBatch b, int[] labels, float[] targets, boolean training, long seed, long step) {
        TokenBatch tb = new TokenBatch(b.batch(), b.seqLen(), b.attentionMask(), training, seed, step);
        float[] logits = model.forward(k, b.ids(), b.typeIds(), tb, true);
        int c = model.numLabels();
        int n = b.batch();
        if (dLogits.length < n * c) {
            probs = new float[n * c];
            dLogits = new float[n * c];
            preds = new float[n];
        }
        Arrays.fill(dLogits, 0, n * c, 0f);
        float loss;
        if (c == 1) {
            System.arraycopy(logits, 0, preds, 0, n);
            loss = MeanSquaredError.forward(k, preds, targets, n);
            MeanSquaredError.backward(k, dLogits, preds, targets, n, 1f);
        } else {
            loss = CrossEntropy.forward(k, probs, null, logits, labels, n, c);
            CrossEntropy.backward(k, dLogits, probs, labels, n, c, 1f);
        }
        model.backward(k, dLogits, tb);
        return loss;
    }
}
