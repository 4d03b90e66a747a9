package dev.dynalora.evaluation;

import java.util.Arrays;

/**
 * The GLUE metrics, matching scikit-learn / SciPy (what the GLUE baselines and HF {@code evaluate} use), computed
 * in double precision.
 *
 * <p>Degenerate inputs follow scikit-learn's "no information" convention and return 0 instead of NaN: MCC when
 * a row or column of the confusion matrix is empty (as sklearn does), F1 with no positive predictions or gold
 * (sklearn's zero_division=0), and Pearson/Spearman when either side is constant (SciPy would give NaN). Early in
 * training a model often predicts one class or one value; a NaN there would poison the mean "score" and every
 * best-checkpoint comparison, while 0 is the honest value of a constant predictor.
 *
 * <p>NaN predictions (a diverged regression head) give NaN, as in SciPy. Mismatched or empty arrays are programming errors and throw {@link IllegalArgumentException}.
 */
public final class Metrics {
    private Metrics() {
    }

    /** Fraction of positions where prediction equals gold. */
    public static double accuracy(int[] predicted, int[] gold) {
        check(predicted.length, gold.length);
        long hit = 0;
        for (int i = 0; i < gold.length; i++) {
            if (predicted[i] == gold[i]) {
                hit++;
            }
        }
        return (double) hit / gold.length;
    }

    /** Binary F1 with class 1 as the positive class (GLUE's MRPC / QQP F1): 2TP / (2TP + FP + FN). */
    public static double f1(int[] predicted, int[] gold) {
        check(predicted.length, gold.length);
        long tp = 0, fp = 0, fn = 0;
        for (int i = 0; i < gold.length; i++) {
            boolean p = predicted[i] == 1, g = gold[i] == 1;
            if (p && g) {
                tp++;
            } else if (p) {
                fp++;
            } else if (g) {
                fn++;
            }
        }
        long denominator = 2 * tp + fp + fn;
        return denominator == 0 ? 0.0 : 2.0 * tp / denominator;
    }

    /**
     * Matthews correlation coefficient, the multiclass form of sklearn's {@code matthews_corrcoef} (which for two
     * classes is (TP*TN - FP*FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))). 0 when the denominator is 0.
     */
    public static double matthews(int[] predicted, int[] gold) {
        check(predicted.length, gold.length);
        int k = 0;
        for (int i = 0; i < gold.length; i++) {
            if (predicted[i] < 0 || gold[i] < 0) {
                throw new IllegalArgumentException("negative class id at position " + i);
            }
            k = Math.max(k, Math.max(predicted[i], gold[i]) + 1);
        }
        long[] predCount = new long[k], goldCount = new long[k];
        long correct = 0;
        for (int i = 0; i < gold.length; i++) {
            predCount[predicted[i]]++;
            goldCount[gold[i]]++;
            if (predicted[i] == gold[i]) {
                correct++;
            }
        }
        // Gorodkin's R_K: (c*s - sum p_k t_k) / sqrt((s^2 - sum p_k^2)(s^2 - sum t_k^2)); doubles avoid overflow.
        double s = gold.length;
        double pt = 0, pp = 0, tt = 0;
        for (int c = 0; c < k; c++) {
            pt += (double) predCount[c] * goldCount[c];
            pp += (double) predCount[c] * predCount[c];
            tt += (double) goldCount[c] * goldCount[c];
        }
        double denominator = Math.sqrt((s * s - pp) * (s * s - tt));
        return denominator == 0 ? 0.0 : (correct * s - pt) / denominator;
    }

    /** Pearson correlation; 0 if either side is constant, NaN if any value is NaN (as SciPy propagates it). */
    public static double pearson(float[] x, float[] y) {
        check(x.length, y.length);
        if (hasNaN(x) || hasNaN(y)) {
            return Double.NaN;
        }
        return pearson(toDouble(x), toDouble(y));
    }

    /**
     * Spearman rank correlation: Pearson on ranks, with tied values given their average rank (SciPy's
     * {@code spearmanr}, i.e. {@code rankdata(method="average")}). NaN if any value is NaN: a diverged model
     * must not get a finite rank correlation.
     */
    public static double spearman(float[] x, float[] y) {
        check(x.length, y.length);
        if (hasNaN(x) || hasNaN(y)) {
            return Double.NaN;
        }
        return pearson(ranks(toDouble(x)), ranks(toDouble(y)));
    }

    /** 1-based ranks, ties sharing the mean of the ranks they span (e.g. [10, 20, 20, 30] → [1, 2.5, 2.5, 4]). */
    public static double[] ranks(double[] v) {
        int n = v.length;
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Double.compare(v[a], v[b]));
        double[] r = new double[n];
        for (int i = 0; i < n; ) {
            int j = i;
            while (j + 1 < n && Double.compare(v[order[j + 1]], v[order[i]]) == 0) {
                j++;
            }
            double avg = (i + j) / 2.0 + 1; // mean of ranks i+1 .. j+1
            for (int m = i; m <= j; m++) {
                r[order[m]] = avg;
            }
            i = j + 1;
        }
        return r;
    }

    private static double pearson(double[] x, double[] y) {
        int n = x.length;
        // Two passes (means first) instead of the one-pass sum-of-squares formula, which cancels badly when the
        // values are large relative to their spread.
        double mx = 0, my = 0;
        for (int i = 0; i < n; i++) {
            mx += x[i];
            my += y[i];
        }
        mx /= n;
        my /= n;
        double sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < n; i++) {
            double dx = x[i] - mx, dy = y[i] - my;
            sxy += dx * dy;
            sxx += dx * dx;
            syy += dy * dy;
        }
        if (sxx == 0 || syy == 0) {
            return 0.0;
        }
        double r = sxy / Math.sqrt(sxx * syy);
        return Math.max(-1.0, Math.min(1.0, r)); // rounding can land a hair outside [-1, 1]
    }

    private static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return d;
    }

    private static boolean hasNaN(float[] a) {
        for (float v : a) {
            if (Float.isNaN(v)) {
                return true;
            }
        }
        return false;
    }

    private static void check(int predicted, int gold) {
        if (predicted != gold) {
            throw new IllegalArgumentException(predicted + " predictions for " + gold + " gold values");
        }
        if (gold == 0) {
            throw new IllegalArgumentException("no examples to score");
        }
    }
}
