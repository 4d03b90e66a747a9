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
        return lossAndGradients(k, b, labels, targets, training, seed, step, 0, -1);
    }

    /**
     * As above for a shard of a training step's batch: b holds the shard's examples (padded to the whole batch's
     * length), the first of them example {@code firstExample} of the batch (dropout masks are drawn where the
     * whole batch draws them), and the loss mean's denominator is {@code denominator}, the whole batch's
     * scored examples (negative: this shard's own, the plain call). Returns the shard's part of the batch's
     * mean loss ({@link CrossEntropy#share}); gradients are those of that part.
     */
    float lossAndGradients(Kernels k, PaddedBatch b, int[] labels, float[] targets, boolean training, long seed, long step,
                           int firstExample, long denominator) {
        TokenBatch tb = new TokenBatch(b.batch(), b.seqLen(), b.attentionMask(), training, seed, step, firstExample);
        float[] logits = model.forward(k, b.ids(), b.typeIds(), tb, true);
        int c = model.numLabels();
        int n = b.batch();
        // Regression's backward scales by 2 / (its n): run it over the whole batch's length (rows past this
        // shard's have pred = target = 0, so no gradient), which gives every row the whole batch's factor.
        int rows = c == 1 && denominator > n ? (int) denominator : n;
        if (dLogits.length < rows * c) {
            probs = new float[rows * c];
            dLogits = new float[rows * c];
            preds = new float[rows];
        }
        Arrays.fill(dLogits, 0, rows * c, 0f);
        float loss;
        if (c == 1) {
            System.arraycopy(logits, 0, preds, 0, n);
            loss = MeanSquaredError.forward(k, preds, targets, n);
            if (rows > n) {
                float[] t = Arrays.copyOf(targets, rows);
                Arrays.fill(preds, n, rows, 0f);
                MeanSquaredError.backward(k, dLogits, preds, t, rows, 1f);
                loss = CrossEntropy.share(loss, n, rows);
            } else {
                MeanSquaredError.backward(k, dLogits, preds, targets, n, 1f);
            }
        } else {
            loss = CrossEntropy.forward(k, probs, null, logits, labels, n, c);
            if (denominator < 0) {
                CrossEntropy.backward(k, dLogits, probs, labels, n, c, 1f);
            } else {
                CrossEntropy.backward(k, dLogits, probs, labels, n, c, 1f, denominator);
                loss = CrossEntropy.share(loss, CrossEntropy.scored(labels, n), denominator);
            }
        }
        model.backward(k, dLogits, tb);
        return loss;
    }
}
