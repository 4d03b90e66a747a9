package dev.dynalora.evaluation;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Expected values are worked out by hand in the comments (they agree with sklearn / SciPy definitions). */
class MetricsTest {
    private static final double EPS = 1e-12;

    @Test
    void accuracy() {
        assertEquals(0.5, Metrics.accuracy(new int[]{1, 0, 1, 1}, new int[]{1, 1, 1, 0}), EPS);
        assertEquals(1.0, Metrics.accuracy(new int[]{2, 0}, new int[]{2, 0}), EPS);
    }

    @Test
    void f1() {
        // TP = 2 (positions 0, 4), FP = 1 (1), FN = 1 (3): 2*2 / (2*2 + 1 + 1) = 2/3.
        assertEquals(2.0 / 3, Metrics.f1(new int[]{1, 1, 0, 0, 1}, new int[]{1, 0, 0, 1, 1}), EPS);
        // No positives predicted nor gold: sklearn's zero_division=0.
        assertEquals(0.0, Metrics.f1(new int[]{0, 0}, new int[]{0, 0}), EPS);
        // Positives exist but none predicted: TP = 0 gives 0, not NaN.
        assertEquals(0.0, Metrics.f1(new int[]{0, 0}, new int[]{1, 0}), EPS);
    }

    @Test
    void matthewsBinary() {
        // TP=2, TN=1, FP=1, FN=1: (2*1 - 1*1) / sqrt(3*3*2*2) = 1/6.
        assertEquals(1.0 / 6, Metrics.matthews(new int[]{1, 1, 0, 0, 1}, new int[]{1, 0, 0, 1, 1}), EPS);
        // sklearn's docstring example (y_true=[+1,+1,+1,-1], y_pred=[+1,-1,+1,+1]) with -1 mapped to 0: -1/3.
        assertEquals(-1.0 / 3, Metrics.matthews(new int[]{1, 0, 1, 1}, new int[]{1, 1, 1, 0}), EPS);
        assertEquals(1.0, Metrics.matthews(new int[]{0, 1, 1, 0}, new int[]{0, 1, 1, 0}), EPS);
        assertEquals(-1.0, Metrics.matthews(new int[]{1, 0, 0, 1}, new int[]{0, 1, 1, 0}), EPS);
    }

    @Test
    void matthewsZeroDenominatorIsZero() {
        // Constant prediction (TP+FP = 0 or TN+FN = 0): the formula is 0/0; sklearn returns 0.
        assertEquals(0.0, Metrics.matthews(new int[]{1, 1, 1, 1}, new int[]{1, 0, 1, 0}), EPS);
        assertEquals(0.0, Metrics.matthews(new int[]{0, 0, 0}, new int[]{1, 0, 1}), EPS);
        // Constant gold as well.
        assertEquals(0.0, Metrics.matthews(new int[]{1, 0, 1}, new int[]{1, 1, 1}), EPS);
        assertEquals(0.0, Metrics.matthews(new int[]{1}, new int[]{1}), EPS);
    }

    @Test
    void matthewsMulticlass() {
        // gold [0,1,2,0,1,2], pred [0,2,1,0,0,2]: s=6, correct c=3, t=[2,2,2], p=[3,1,2].
        // (c*s - sum p*t) / sqrt((s^2 - sum p^2)(s^2 - sum t^2)) = (18 - 12) / sqrt((36-14)(36-12)) = 6/sqrt(528).
        assertEquals(6 / Math.sqrt(528), Metrics.matthews(new int[]{0, 2, 1, 0, 0, 2}, new int[]{0, 1, 2, 0, 1, 2}),
                EPS);
    }

    @Test
    void pearson() {
        // x mean 3, y mean 4: dx=[-2,-1,0,1,2], dy=[-2,0,1,0,1]; sxy=6, sxx=10, syy=6: 6/sqrt(60).
        assertEquals(6 / Math.sqrt(60), Metrics.pearson(new float[]{1, 2, 3, 4, 5}, new float[]{2, 4, 5, 4, 5}), EPS);
        assertEquals(-1.0, Metrics.pearson(new float[]{1, 2, 3}, new float[]{3, 2, 1}), EPS);
        // Large offset, small spread: the two-pass formula stays exact where a naive one-pass one would not.
        assertEquals(1.0, Metrics.pearson(new float[]{1e6f, 1e6f + 1, 1e6f + 2}, new float[]{0, 1, 2}), EPS);
    }

    @Test
    void correlationOfConstantIsZeroAndNaNPropagates() {
        assertEquals(0.0, Metrics.pearson(new float[]{2, 2, 2}, new float[]{1, 2, 3}), EPS);
        assertEquals(0.0, Metrics.spearman(new float[]{1, 2, 3}, new float[]{4, 4, 4}), EPS);
        assertTrue(Double.isNaN(Metrics.pearson(new float[]{1, Float.NaN, 3}, new float[]{1, 2, 3})));
        assertTrue(Double.isNaN(Metrics.spearman(new float[]{1, 2, 3}, new float[]{1, Float.NaN, 3})));
    }

    @Test
    void spearmanWithTies() {
        // x=[1,2,2,3] ranks [1,2.5,2.5,4]; y=[1,3,2,4] ranks [1,3,2,4]. Means 2.5; sxy=4.5, sxx=4.5, syy=5:
        // 4.5/sqrt(22.5) = sqrt(0.9) = 0.9486832980505138 (scipy.stats.spearmanr gives the same).
        assertEquals(Math.sqrt(0.9), Metrics.spearman(new float[]{1, 2, 2, 3}, new float[]{1, 3, 2, 4}), EPS);
        // x=[3,1,4,1,5] ranks [3,1.5,4,1.5,5]; y=[9,2,6,5,3] ranks [5,1,4,3,2]; sxy=2, sxx=9.5, syy=10:
        // 2/sqrt(95) = 0.20519567041703082.
        assertEquals(2 / Math.sqrt(95), Metrics.spearman(new float[]{3, 1, 4, 1, 5}, new float[]{9, 2, 6, 5, 3}), EPS);
        // Ties on both sides: ranks [1.5,1.5,3.5,3.5,5] and [3.5,1.5,3.5,1.5,5]; sxy=5, sxx=syy=9: 5/9.
        assertEquals(5.0 / 9, Metrics.spearman(new float[]{1, 1, 2, 2, 3}, new float[]{2, 1, 2, 1, 3}), EPS);
        // Monotone but non-linear: Spearman 1, Pearson below 1.
        float[] x = {1, 2, 3, 4}, y = {1, 4, 9, 100};
        assertEquals(1.0, Metrics.spearman(x, y), EPS);
        assertTrue(Metrics.pearson(x, y) < 0.9);
    }

    @Test
    void averageRanks() {
        assertArrayEquals(new double[]{1, 2.5, 2.5, 4}, Metrics.ranks(new double[]{10, 20, 20, 30}));
        assertArrayEquals(new double[]{2, 2, 2}, Metrics.ranks(new double[]{7, 7, 7}));
        assertArrayEquals(new double[]{3, 1, 2}, Metrics.ranks(new double[]{0.5, -1, 0}));
    }

    @Test
    void rejectsMismatchedOrEmpty() {
        assertThrows(IllegalArgumentException.class, () -> Metrics.accuracy(new int[]{1}, new int[]{1, 0}));
        assertThrows(IllegalArgumentException.class, () -> Metrics.pearson(new float[0], new float[0]));
        assertThrows(IllegalArgumentException.class, () -> Metrics.matthews(new int[]{-1}, new int[]{0}));
    }
}
