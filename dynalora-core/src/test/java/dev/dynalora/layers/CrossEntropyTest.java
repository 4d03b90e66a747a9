package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;
import dev.dynalora.kernels.ReferenceKernels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;
import java.util.Random;

import static dev.dynalora.layers.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

class CrossEntropyTest {

    static List<Kernels> kernels() {
        return TestSupport.kernels();
    }

    /** Mean CE in double (logsumexp form), over non-ignored labels. */
    static double ref(double[] logits, int[] labels, int batch, int classes) {
        double total = 0;
        int count = 0;
        for (int b = 0; b < batch; b++) {
            if (labels[b] == CrossEntropy.IGNORE_INDEX) {
                continue;
            }
            double m = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < classes; c++) {
                m = Math.max(m, logits[b * classes + c]);
            }
            double s = 0;
            for (int c = 0; c < classes; c++) {
                s += Math.exp(logits[b * classes + c] - m);
            }
            total += m + Math.log(s) - logits[b * classes + labels[b]];
            count++;
        }
        return count == 0 ? 0 : total / count;
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void lossAndGradient(Kernels k) {
        Random rnd = new Random(60);
        int batch = 6, classes = 4;
        float[] logits = randn(rnd, batch * classes, 2);
        int[] labels = {0, 3, CrossEntropy.IGNORE_INDEX, 1, 2, 3};
        float[] probs = new float[logits.length], rowLoss = filled(batch, Float.NaN);
        float loss = CrossEntropy.forward(k, probs, rowLoss, logits, labels, batch, classes);
        assertEquals(ref(toDouble(logits), labels, batch, classes), loss, 1e-6);
        assertEquals(0f, rowLoss[2], "ignored row has zero loss");
        double mean = 0;
        for (int b = 0; b < batch; b++) {
            mean += rowLoss[b];
        }
        assertEquals(mean / 5, loss, 1e-6, "mean over the 5 counted rows");
        assertClose("probs", SoftmaxTest.ref(toDouble(logits), batch, classes), probs, 1e-7, 1e-5);

        float dloss = 0.7f;
        float[] dlogits = new float[logits.length];
        CrossEntropy.backward(k, dlogits, probs, labels, batch, classes, dloss);
        float[] w = {dloss};
        double[] fd = numericGrad(a -> new double[]{ref(a[0], labels, batch, classes)},
                new double[][]{toDouble(logits)}, 0, w, 1e-6);
        assertClose("dlogits", fd, dlogits, 1e-6, 1e-4);
        for (int c = 0; c < classes; c++) {
            assertEquals(0f, dlogits[2 * classes + c], "ignored row gets no gradient");
        }

        float[] g0 = randn(rnd, logits.length, 1);
        float[] acc = g0.clone();
        CrossEntropy.backward(k, acc, probs, labels, batch, classes, dloss);
        assertClose("dlogits +=", plus(g0, dlogits), acc, 1e-6, 1e-6);
        assertDoesNotThrow(() -> CrossEntropy.backward(k, null, probs, labels, batch, classes, 1f));

        // null rowLoss, and probs written over the logits themselves
        float[] inPlace = logits.clone();
        assertEquals(loss, CrossEntropy.forward(k, inPlace, null, inPlace, labels, batch, classes));
        assertArrayEquals(probs, inPlace);
    }

    @Test
    void extremeLogitsStayFinite() {
        Kernels k = new ReferenceKernels();
        float[] logits = {1000f, -1000f, 0f, -1000f, 1000f, 0f};
        int[] labels = {1, 1};
        float[] probs = new float[6];
        float loss = CrossEntropy.forward(k, probs, null, logits, labels, 2, 3);
        // row 0: 2000 (wrong class far below), row 1: ~0 (right class dominates)
        assertEquals(1000.0, loss, 1e-3);
        float[] d = new float[6];
        CrossEntropy.backward(k, d, probs, labels, 2, 3, 1f);
        assertAllFinite("dlogits", d);
        assertEquals(0.5f, d[0], 1e-6f); // (1 - 0) / 2
        assertEquals(-0.5f, d[1], 1e-6f); // (0 - 1) / 2
    }

    @Test
    void allIgnoredGivesZeroAndBadLabelsAreRejected() {
        Kernels k = new ReferenceKernels();
        int[] ignored = {CrossEntropy.IGNORE_INDEX, CrossEntropy.IGNORE_INDEX};
        float[] probs = new float[4];
        assertEquals(0f, CrossEntropy.forward(k, probs, null, new float[]{1, 2, 3, 4}, ignored, 2, 2));
        float[] d = new float[4];
        CrossEntropy.backward(k, d, probs, ignored, 2, 2, 1f);
        assertArrayEquals(new float[4], d);
        assertThrows(IllegalArgumentException.class,
                () -> CrossEntropy.forward(k, new float[4], null, new float[4], new int[]{0, 2}, 2, 2));
        assertThrows(IllegalArgumentException.class,
                () -> CrossEntropy.forward(k, new float[4], null, new float[4], new int[]{-1, 0}, 2, 2));
    }

    @Test
    void largeBatchIsIdenticalForAnyThreadCount() {
        Random rnd = new Random(61);
        int batch = 300, classes = 100; // above the parallel threshold (an MLM-sized vocabulary in miniature)
        float[] logits = randn(rnd, batch * classes, 3);
        int[] labels = new int[batch];
        for (int b = 0; b < batch; b++) {
            labels[b] = b % 7 == 0 ? CrossEntropy.IGNORE_INDEX : rnd.nextInt(classes);
        }
        float[] p1 = new float[logits.length], p2 = new float[logits.length];
        float l1 = CrossEntropy.forward(new ReferenceKernels(), p1, null, logits, labels, batch, classes);
        float l2 = CrossEntropy.forward(new ThreadedTestKernels(4), p2, null, logits, labels, batch, classes);
        assertEquals(l1, l2);
        assertArrayEquals(p1, p2);
        assertEquals(ref(toDouble(logits), labels, batch, classes), l1, 1e-5);
    }

    /**
     * A vocabulary-sized row (the Vector API softmax path) gives the loss and probabilities of the double-precision
     * formula: log-sum-exp - logit[label], and exp(logit - log-sum-exp).
     */
    @ParameterizedTest
    @MethodSource("kernels")
    void vocabularySizedRowsMatchTheDoubleFormula(Kernels k) {
        Random rnd = new Random(63);
        int batch = 37, classes = CrossEntropy.VECTOR_CLASSES * 3 + 5;
        float[] logits = randn(rnd, batch * classes, 4);
        int[] labels = new int[batch];
        for (int b = 0; b < batch; b++) {
            labels[b] = b % 7 == 0 ? CrossEntropy.IGNORE_INDEX : rnd.nextInt(classes);
        }
        float[] probs = logits.clone();
        float[] rowLoss = new float[batch];
        float mean = CrossEntropy.forward(k, probs, rowLoss, probs, labels, batch, classes);
        double total = 0;
        int count = 0;
        for (int b = 0; b < batch; b++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < classes; c++) {
                max = Math.max(max, logits[b * classes + c]);
            }
            double sum = 0;
            for (int c = 0; c < classes; c++) {
                sum += Math.exp(logits[b * classes + c] - max);
            }
            double lse = max + Math.log(sum);
            for (int c = 0; c < classes; c++) {
                assertEquals(Math.exp(logits[b * classes + c] - lse), probs[b * classes + c], 2e-6 * Math.exp(logits[b * classes + c] - lse) + 1e-12);
            }
            if (labels[b] != CrossEntropy.IGNORE_INDEX) {
                double l = lse - logits[b * classes + labels[b]];
                assertEquals(l, rowLoss[b], 1e-5);
                total += l;
                count++;
            }
        }
        assertEquals(total / count, mean, 1e-5);
    }

    /** The in-place gradient equals backward into a zeroed buffer, ignored rows included, for any thread split. */
    @ParameterizedTest
    @MethodSource("kernels")
    void backwardInPlaceMatchesBackward(Kernels k) {
        Random rnd = new Random(62);
        int batch = 301, classes = 67; // above the parallel threshold, odd
        float[] logits = randn(rnd, batch * classes, 3);
        int[] labels = new int[batch];
        for (int b = 0; b < batch; b++) {
            labels[b] = b % 5 == 0 ? CrossEntropy.IGNORE_INDEX : rnd.nextInt(classes);
        }
        float[] probs = new float[logits.length];
        CrossEntropy.forward(k, probs, null, logits, labels, batch, classes);
        float[] d = new float[logits.length];
        CrossEntropy.backward(k, d, probs, labels, batch, classes, 0.5f);
        float[] inPlace = probs.clone();
        CrossEntropy.backwardInPlace(k, inPlace, labels, batch, classes, 0.5f);
        // At the label, f * p - f rounds once more than f * (p - 1): within an ulp of the gradient's scale.
        assertArrayEquals(d, inPlace, 1e-9f);
        float[] ignored = probs.clone();
        int[] none = new int[batch];
        java.util.Arrays.fill(none, CrossEntropy.IGNORE_INDEX);
        CrossEntropy.backwardInPlace(k, ignored, none, batch, classes, 1f);
        assertArrayEquals(new float[logits.length], ignored);
    }
}
