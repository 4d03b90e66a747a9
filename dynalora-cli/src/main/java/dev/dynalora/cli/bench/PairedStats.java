package dev.dynalora.cli.bench;

import java.math.BigInteger;
import java.util.Arrays;

/**
 * Statistics of paired differences (method minus baseline, one per (task, seed)): wins, ties and losses, the mean
 * difference with a 95% Student t interval, and an exact two-sided sign test.
 *
 * <p>Why the sign test and not Wilcoxon's signed-rank test: the pairs pool tasks whose scores are on different
 * scales and spread very differently (CoLA's MCC moves by points from seed to seed, SST-2's accuracy by tenths),
 * so ranking the magnitudes of the differences across tasks, as Wilcoxon does, would let the noisiest task
 * decide; Wilcoxon also assumes the differences are symmetric about their median. The sign test uses only
 * which method scored higher in each pair, assumes nothing about magnitudes or shapes, and its exact p-value
 * is a sum of binomial coefficients. Ties (equal scores, as when both methods sit at CoLA's class prior) carry
 * no sign and are left out of it, as is usual. The t interval, by contrast, is on the magnitudes: it says how
 * large the mean difference is, the sign test how consistent its direction is.
 */
public final class PairedStats {
    private PairedStats() {
    }

    /** The summary of n paired differences. */
    public record Summary(int n, int wins, int ties, int losses, double mean, double ciLow, double ciHigh, double signP) {
    }

    public static Summary of(double[] differences) {
        int wins = 0;
        int ties = 0;
        int losses = 0;
        for (double d : differences) {
            if (d > 0) {
                wins++;
            } else if (d < 0) {
                losses++;
            } else {
                ties++;
            }
        }
        int n = differences.length;
        double mean = n == 0 ? Double.NaN : Arrays.stream(differences).sum() / n;
        double lo = Double.NaN;
        double hi = Double.NaN;
        if (n >= 2) {
            double ss = 0;
            for (double d : differences) {
                ss += (d - mean) * (d - mean);
            }
            double half = tQuantile(0.975, n - 1) * Math.sqrt(ss / (n - 1) / n);
            lo = mean - half;
            hi = mean + half;
        }
        return new Summary(n, wins, ties, losses, mean, lo, hi, signTestP(wins, losses));
    }

    /**
     * Exact two-sided sign test: with m = wins + losses pairs that differ and k = min(wins, losses), the
     * probability under "each is equally likely to win" of a split at least as uneven, 2 * sum_{i<=k} C(m, i) / 2^m,
     * capped at 1 (it is 1 for an even split, and for m = 0). Exact in integers for any m.
     */
    public static double signTestP(int wins, int losses) {
        int m = wins + losses;
        if (m == 0) {
            return 1.0;
        }
        int k = Math.min(wins, losses);
        BigInteger tail = BigInteger.ZERO;
        BigInteger c = BigInteger.ONE; // C(m, 0)
        for (int i = 0; i <= k; i++) {
            tail = tail.add(c);
            c = c.multiply(BigInteger.valueOf(m - i)).divide(BigInteger.valueOf(i + 1));
        }
        double p = new java.math.BigDecimal(tail.shiftLeft(1))
                .divide(new java.math.BigDecimal(BigInteger.ONE.shiftLeft(m)), java.math.MathContext.DECIMAL64).doubleValue();
        return Math.min(1.0, p);
    }

    /** The p-quantile of Student's t distribution with df degrees of freedom (0.5 < p < 1), by bisection on its CDF. */
    public static double tQuantile(double p, int df) {
        if (!(p > 0.5 && p < 1) || df < 1) {
            throw new IllegalArgumentException("tQuantile needs 0.5 < p < 1 and df >= 1, got " + p + ", " + df);
        }
        double lo = 0;
        double hi = 1;
        while (tCdf(hi, df) < p) {
            hi *= 2;
        }
        for (int i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
            double mid = (lo + hi) / 2;
            if (tCdf(mid, df) < p) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        return (lo + hi) / 2;
    }

    /** P(T <= t) for t >= 0: 1 - I_x(df/2, 1/2) / 2 with x = df / (df + t^2). */
    static double tCdf(double t, int df) {
        double x = df / (df + t * t);
        return 1 - 0.5 * regularizedBeta(x, df / 2.0, 0.5);
    }

    /** The regularized incomplete beta function I_x(a, b), by its continued fraction (modified Lentz). */
    static double regularizedBeta(double x, double a, double b) {
        if (x <= 0) {
            return 0;
        }
        if (x >= 1) {
            return 1;
        }
        double lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x);
        if (x > (a + 1) / (a + b + 2)) {
            return 1 - Math.exp(lnFront) * betaFraction(1 - x, b, a) / b;
        }
        return Math.exp(lnFront) * betaFraction(x, a, b) / a;
    }

    private static double betaFraction(double x, double a, double b) {
        final double tiny = 1e-300;
        double c = 1;
        double d = 1 - (a + b) * x / (a + 1);
        d = 1 / (Math.abs(d) < tiny ? tiny : d);
        double f = d;
        for (int m = 1; m <= 1000; m++) {
            int m2 = 2 * m;
            double num = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
            d = 1 + num * d;
            d = 1 / (Math.abs(d) < tiny ? tiny : d);
            c = 1 + num / c;
            c = Math.abs(c) < tiny ? tiny : c;
            f *= d * c;
            num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
            d = 1 + num * d;
            d = 1 / (Math.abs(d) < tiny ? tiny : d);
            c = 1 + num / c;
            c = Math.abs(c) < tiny ? tiny : c;
            double delta = d * c;
            f *= delta;
            if (Math.abs(delta - 1) < 1e-15) {
                break;
            }
        }
        return f;
    }

    /** ln Gamma(x) for x > 0 (Lanczos, g = 7, n = 9; relative error about 1e-15). */
    static double logGamma(double x) {
        if (x < 0.5) {
            return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
        }
        double[] g = {0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
                -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7};
        x -= 1;
        double a = g[0];
        double t = x + 7.5;
        for (int i = 1; i < 9; i++) {
            a += g[i] / (x + i);
        }
        return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
    }
}
