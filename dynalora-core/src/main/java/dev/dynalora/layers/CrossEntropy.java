package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;
import dev.dynalora.kernels.vector.VectorLosses;

/**
 * Softmax cross-entropy over logits [batch, classes] with integer labels, averaged over the examples whose
 * label is not {@link #IGNORE_INDEX} (torch.nn.CrossEntropyLoss's default reduction and ignore_index). Checks
 * the labels and sizes and runs {@link Kernels#crossEntropyForward}, {@link Kernels#crossEntropyBackward} and
 * {@link Kernels#crossEntropyBackwardInPlace}.
 *
 * <p>Per-example loss is logsumexp(logits) - logits[label] with the row maximum subtracted, so it is finite
 * for any finite logits (no log of an underflowed probability).
 *
 * <p>Saved for backward: probs [batch, classes] (the softmax, written by forward) and the labels.
 */
public final class CrossEntropy {

    private CrossEntropy() {
    }

    /** Label value that excludes an example from the loss and its gradient (PyTorch's ignore_index). */
    public static final int IGNORE_INDEX = -100;

    /** From this many classes on the default backend's row softmax runs on the Vector API (see {@link VectorLosses}). */
    static final int VECTOR_CLASSES = VectorLosses.VECTOR_CLASSES;

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
        countLabels(labels, batch, classes);
        float[] losses = rowLoss != null ? rowLoss : new float[batch];
        return k.crossEntropyForward(probs, losses, logits, labels, batch, classes, IGNORE_INDEX);
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
        k.crossEntropyBackward(dlogits, probs, labels, batch, classes, (float) ((double) dloss / count), IGNORE_INDEX);
    }

    /**
     * As {@link #backward(Kernels, float[], float[], int[], int, int, float)} for a shard of a larger batch whose
     * mean loss has {@code denominator} non-ignored examples in all: each non-ignored example here gets
     * dloss * (probs - onehot) / denominator, the factor computed as the whole batch's call computes it, so
     * with denominator = this shard's own count it is that call exactly.
     */
    public static void backward(Kernels k, float[] dlogits, float[] probs, int[] labels, int batch, int classes,
                                float dloss, long denominator) {
        if (dlogits == null) {
            return;
        }
        Checks.nonNegative(batch, "batch");
        Checks.positive(classes, "classes");
        Checks.len(dlogits, (long) batch * classes, "dlogits");
        Checks.len(probs, (long) batch * classes, "probs");
        int count = countLabels(labels, batch, classes);
        if (count == 0 || denominator <= 0) {
            return;
        }
        k.crossEntropyBackward(dlogits, probs, labels, batch, classes, (float) ((double) dloss / denominator), IGNORE_INDEX);
    }

    /**
     * A shard's part of a batch's mean loss: its own mean over {@code count} non-ignored examples, times count /
     * denominator. Exactly the mean when count == denominator (mean * count is exact in a double for any count
     * below 2^29), so a one-shard batch reports the plain mean.
     */
    public static float share(float mean, long count, long denominator) {
        if (count == 0 || denominator <= 0) {
            return 0f;
        }
        return (float) ((double) mean * count / denominator);
    }

    /** How many of labels[0, batch) are not {@link #IGNORE_INDEX}. */
    public static int scored(int[] labels, int batch) {
        int count = 0;
        for (int i = 0; i < batch; i++) {
            if (labels[i] != IGNORE_INDEX) {
                count++;
            }
        }
        return count;
    }

    /**
     * probs := dloss * (probs - onehot(label)) / count in place (ignored rows set to 0): the gradient of the
     * mean loss written over the softmax that {@link #forward} left there. A causal language model's
     * [tokens, vocabulary] buffer is hundreds of MB, so this spares it a second one of the same size.
     */
    public static void backwardInPlace(Kernels k, float[] probs, int[] labels, int batch, int classes, float dloss) {
        backwardInPlace(k, probs, labels, batch, classes, dloss, -1);
    }

    /**
     * As above for a shard of a larger batch whose mean loss has {@code denominator} non-ignored rows in all
     * (negative: this shard's own count, the plain call).
     */
    public static void backwardInPlace(Kernels k, float[] probs, int[] labels, int batch, int classes, float dloss,
                                       long denominator) {
        Checks.nonNegative(batch, "batch");
        Checks.positive(classes, "classes");
        Checks.len(probs, (long) batch * classes, "probs");
        int count = countLabels(labels, batch, classes);
        long d = denominator < 0 ? count : denominator;
        float f = count == 0 || d == 0 ? 0f : (float) ((double) dloss / d);
        k.crossEntropyBackwardInPlace(probs, labels, batch, classes, f, IGNORE_INDEX);
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
