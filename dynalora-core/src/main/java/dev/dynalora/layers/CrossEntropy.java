package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;

/**
 * Softmax cross-entropy over logits [batch, classes] with integer labels, averaged over the examples whose
 * label is not {@link #IGNORE_INDEX} (torch.nn.CrossEntropyLoss's default reduction and ignore_index).
 *
 * <p>Per-example loss is computed as logsumexp(logits) - logits[label] in double with the row maximum
 * subtracted, so it is finite for any finite logits (no log of an underflowed probability).
 *
 * <p>Saved for backward: probs [batch, classes] (the softmax, written by forward) and the labels.
 */
public final class CrossEntropy {

    private CrossEntropy() {
    }

    /** Label value that excludes an example from the loss and its gradient (PyTorch's ignore_index). */
    public static final int IGNORE_INDEX = -100;

    /**
     * From this many classes on (a language model's vocabulary) a row's softmax runs on the Vector API (float
     * expf, see {@link Softmax#rowInPlaceLogSumExp}): with a double Math.exp per logit, the softmax over 32,000
     * logits of 4,096 tokens took about a third of a stories15M training step. Classifiers' few classes keep
     * the double-precision loop, which costs nothing there.
     */
    static final int VECTOR_CLASSES = 256;

    private static final int MIN_PARALLEL = 1 << 14;

    /**
     * Computes probs and the mean loss.
     *
     * @param probs   [batch, classes] softmax of the logits, saved for backward (may be the logits array
     *                itself when the logits are not needed afterwards)
     * @param rowLoss [batch] per-example loss (0 for ignored examples), or null if not wanted
     * @param labels  [batch], each in [0, classes) or IGNORE_INDEX
     * @return the mean loss over non-ignored examples; 0 when every example is ignored (PyTorch would
     *         return NaN, which would only poison the running loss average)
     */
    public static float forward(Kernels k, float[] probs, float[] rowLoss, float[] logits, int[] labels,
                                int batch, int classes) {
        Checks.nonNegative(batch, "batch");
        Checks.positive(classes, "classes");
        Checks.len(probs, (long) batch * classes, "probs");
        Checks.len(logits, (long) batch * classes, "logits");
        Checks.lenOrNull(rowLoss, batch, "rowLoss");
        int count = countLabels(labels, batch, classes);
        // Each row's loss goes to its own slot and the mean is summed afterwards in row order, so the
        // total is the same for any thread count.
        final float[] losses = rowLoss != null ? rowLoss : new float[batch];
        if (classes >= VECTOR_CLASSES) {
            Kernels.RangeBody wide = (r0, r1) -> {
                for (int r = r0; r < r1; r++) {
                    int base = r * classes;
                    int label = labels[r];
                    double target = label == IGNORE_INDEX ? 0 : logits[base + label];
                    if (probs != logits) {
                        System.arraycopy(logits, base, probs, base, classes);
                    }
                    double lse = Softmax.rowInPlaceLogSumExp(probs, base, classes);
                    losses[r] = label == IGNORE_INDEX ? 0f : (float) (lse - target);
                }
            };
            k.parallelFor(batch, wide);
            return mean(losses, batch, count);
        }
        Kernels.RangeBody body = (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int base = r * classes;
                float max = Float.NEGATIVE_INFINITY;
                for (int c = 0; c < classes; c++) {
                    max = Math.max(max, logits[base + c]);
                }
                int label = labels[r];
                double target = label == IGNORE_INDEX ? 0 : logits[base + label];
                double sum = 0;
                for (int c = 0; c < classes; c++) {
                    float e = (float) Math.exp(logits[base + c] - max);
                    probs[base + c] = e; // may overwrite logits[base + c] when probs == logits: already read
                    sum += e;
                }
                float inv = (float) (1.0 / sum);
                for (int c = 0; c < classes; c++) {
                    probs[base + c] *= inv;
                }
                losses[r] = label == IGNORE_INDEX ? 0f : (float) (max + Math.log(sum) - target);
            }
        };
        if ((long) batch * classes < MIN_PARALLEL) {
            if (batch > 0) {
                body.run(0, batch);
            }
        } else {
            k.parallelFor(batch, body);
        }
        return mean(losses, batch, count);
    }

    /** The mean of the per-row losses over the non-ignored rows, summed in row order (thread-count independent). */
    private static float mean(float[] losses, int batch, int count) {
        if (count == 0) {
            return 0f;
        }
        double total = 0;
        for (int r = 0; r < batch; r++) {
            total += losses[r];
        }
        return (float) (total / count);
    }

    /**
     * dlogits += dloss * (probs - onehot(label)) / count for each non-ignored example (count = number of
     * non-ignored examples); ignored examples get no gradient. No-op when dlogits is null.
     *
     * @param dloss upstream gradient of the returned mean loss (1 for a plain training loss, or the loss
     *              weight / gradient-accumulation factor)
     */
    public static void backward(Kernels k, float[] dlogits, float[] probs, int[] labels, int batch, int classes,
                                float dloss) {
        if (dlogits == null) {
            return;
        }
        Checks.nonNegative(batch, "batch");
        Checks.positive(classes, "classes");
        Checks.len(dlogits, (long) batch * classes, "dlogits");
        Checks.len(probs, (long) batch * classes, "probs");
        int count = countLabels(labels, batch, classes);
        if (count == 0) {
            return;
        }
        final float f = (float) ((double) dloss / count);
        Kernels.RangeBody body = (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int label = labels[r];
                if (label == IGNORE_INDEX) {
                    continue;
                }
                int base = r * classes;
                for (int c = 0; c < classes; c++) {
                    float indicator = c == label ? 1f : 0f;
                    dlogits[base + c] += f * (probs[base + c] - indicator);
                }
            }
        };
        if ((long) batch * classes < MIN_PARALLEL) {
            if (batch > 0) {
                body.run(0, batch);
            }
        } else {
            k.parallelFor(batch, body);
        }
    }

    /**
     * probs := dloss * (probs - onehot(label)) / count in place (ignored rows set to 0): the gradient of the
     * mean loss written over the softmax that {@link #forward} left there. A causal language model's
     * [tokens, vocabulary] buffer is hundreds of MB, so this spares it a second one of the same size.
     */
    public static void backwardInPlace(Kernels k, float[] probs, int[] labels, int batch, int classes, float dloss) {
        Checks.nonNegative(batch, "batch");
        Checks.positive(classes, "classes");
        Checks.len(probs, (long) batch * classes, "probs");
        int count = countLabels(labels, batch, classes);
        final float f = count == 0 ? 0f : (float) ((double) dloss / count);
        Kernels.RangeBody body = (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int base = r * classes;
                int label = labels[r];
                if (label == IGNORE_INDEX) {
                    java.util.Arrays.fill(probs, base, base + classes, 0f);
                    continue;
                }
                // f * p everywhere (a loop C2 vectorises), then the one-hot term at the label.
                for (int c = 0; c < classes; c++) {
                    probs[base + c] *= f;
                }
                probs[base + label] -= f;
            }
        };
        if ((long) batch * classes < MIN_PARALLEL) {
            if (batch > 0) {
                body.run(0, batch);
            }
        } else {
            k.parallelFor(batch, body);
        }
    }

    /** Validates labels and returns how many are not ignored. */
    private static int countLabels(int[] labels, int batch, int classes) {
        Checks.len(labels, batch, "labels");
        int count = 0;
        for (int r = 0; r < batch; r++) {
            int label = labels[r];
            if (label == IGNORE_INDEX) {
                continue;
            }
            if (label < 0 || label >= classes) {
                throw new IllegalArgumentException("label " + label + " at row " + r + " is outside [0, " + classes + ")");
            }
            count++;
        }
        return count;
    }
}
