package dev.dynalora.kernels.vector;

import dev.dynalora.kernels.Kernels;

/**
 * Softmax cross-entropy ({@link dev.dynalora.kernels.Kernels#crossEntropyForward},
 * {@link dev.dynalora.kernels.Kernels#crossEntropyBackward},
 * {@link dev.dynalora.kernels.Kernels#crossEntropyBackwardInPlace}) and mean squared error.
 *
 * <p>Per-example loss is logsumexp(logits) - logits[label] with the row maximum subtracted, so it is finite
 * for any finite logits (no log of an underflowed probability). Each row's loss goes to its own slot and the
 * mean is summed afterwards in row order (in double), so the total is the same for any thread count.
 */
public final class VectorLosses {

    private VectorLosses() {
    }

    /**
     * From this many classes on (a language model's vocabulary) a row's softmax runs on the Vector API (float
     * expf, see {@link VectorSoftmax#rowInPlaceLogSumExp}): with a double Math.exp per logit, the softmax over
     * 32,000 logits of 4,096 tokens took about a third of a stories15M training step. Classifiers' few classes
     * keep the double-precision loop, which costs nothing there.
     */
    public static final int VECTOR_CLASSES = 256;

    private static final int MIN_PARALLEL = 1 << 14;

    /** See {@link dev.dynalora.kernels.Kernels#crossEntropyForward}. */
    public static float crossEntropyForward(Kernels k, float[] probs, float[] losses, float[] logits, int[] labels,
                                            int batch, int classes, int ignoreIndex) {
        if (classes >= VECTOR_CLASSES) {
            Kernels.RangeBody wide = (r0, r1) -> {
                for (int r = r0; r < r1; r++) {
                    int base = r * classes;
                    int label = labels[r];
                    double target = label == ignoreIndex ? 0 : logits[base + label];
                    if (probs != logits) {
                        System.arraycopy(logits, base, probs, base, classes);
                    }
                    double lse = VectorSoftmax.rowInPlaceLogSumExp(probs, base, classes);
                    losses[r] = label == ignoreIndex ? 0f : (float) (lse - target);
                }
            };
            k.parallelFor(batch, wide);
            return mean(losses, labels, batch, ignoreIndex);
        }
        Kernels.RangeBody body = (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int base = r * classes;
                float max = Float.NEGATIVE_INFINITY;
                for (int c = 0; c < classes; c++) {
                    max = Math.max(max, logits[base + c]);
                }
                int label = labels[r];
                double target = label == ignoreIndex ? 0 : logits[base + label];
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
                losses[r] = label == ignoreIndex ? 0f : (float) (max + Math.log(sum) - target);
            }
        };
        if ((long) batch * classes < MIN_PARALLEL) {
            if (batch > 0) {
                body.run(0, batch);
            }
        } else {
            k.parallelFor(batch, body);
        }
        return mean(losses, labels, batch, ignoreIndex);
    }

    /** The mean of the per-row losses over the non-ignored rows, summed in row order (thread-count independent). */
    private static float mean(float[] losses, int[] labels, int batch, int ignoreIndex) {
        int count = 0;
        for (int r = 0; r < batch; r++) {
            if (labels[r] != ignoreIndex) {
                count++;
            }
        }
        if (count == 0) {
            return 0f;
        }
        double total = 0;
        for (int r = 0; r < batch; r++) {
            total += losses[r];
        }
        return (float) (total / count);
    }

    /** See {@link dev.dynalora.kernels.Kernels#crossEntropyBackward}. */
    public static void crossEntropyBackward(Kernels k, float[] dlogits, float[] probs, int[] labels, int batch,
                                            int classes, float f, int ignoreIndex) {
        Kernels.RangeBody body = (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int label = labels[r];
                if (label == ignoreIndex) {
                    continue;
                }
                int base = r * classes;
                for (int c = 0; c < classes; c++) {
                    float indicator = c == label ? 1f : 0f;
                    dlogits[base + c] += f * (probs[base + c] - indicator);
                }
            }
        };
        run(k, batch, classes, body);
    }

    /** See {@link dev.dynalora.kernels.Kernels#crossEntropyBackwardInPlace}. */
    public static void crossEntropyBackwardInPlace(Kernels k, float[] probs, int[] labels, int batch, int classes,
                                                   float f, int ignoreIndex) {
        Kernels.RangeBody body = (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int base = r * classes;
                int label = labels[r];
                if (label == ignoreIndex) {
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
        run(k, batch, classes, body);
    }

    /** See {@link dev.dynalora.kernels.Kernels#meanSquaredError}. Tiny sizes (one value per example): serial. */
    public static float meanSquaredError(float[] pred, float[] target, int n) {
        if (n == 0) {
            return 0f;
        }
        double s = 0;
        for (int i = 0; i < n; i++) {
            double d = (double) pred[i] - target[i];
            s += d * d;
        }
        return (float) (s / n);
    }

    /** See {@link dev.dynalora.kernels.Kernels#meanSquaredErrorBackward}. */
    public static void meanSquaredErrorBackward(float[] dpred, float[] pred, float[] target, int n, float dloss) {
        if (n == 0) {
            return;
        }
        double f = 2.0 * dloss / n;
        for (int i = 0; i < n; i++) {
            dpred[i] += (float) (f * ((double) pred[i] - target[i]));
        }
    }

    private static void run(Kernels k, int batch, int classes, Kernels.RangeBody body) {
        if ((long) batch * classes < MIN_PARALLEL) {
            if (batch > 0) {
                body.run(0, batch);
            }
        } else {
            k.parallelFor(batch, body);
        }
    }
}
