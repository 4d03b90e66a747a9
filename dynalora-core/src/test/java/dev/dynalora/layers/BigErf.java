package dev.dynalora.layers;

import java.math.BigDecimal;
import java.math.MathContext;

/**
 * An independent high-precision erf for the tests: the Maclaurin series
 * erf(x) = 2/sqrt(pi) sum_n (-1)^n x^(2n+1) / (n! (2n+1)) summed in BigDecimal. The alternating terms
 * grow to ~e^(x^2) before they shrink and erfc(x) ~ e^(-x^2), so the working precision is 30 digits plus
 * twice x^2 / ln 10: that leaves over 25 correct digits of erfc(x) (e.g. erfc(9) ~ 4e-37 with a largest
 * term ~ 1e35). Slow, which is fine for a reference.
 */
final class BigErf {

    private BigErf() {
    }

    private static final MathContext MC = new MathContext(140); // for the constants
    private static final BigDecimal PI = new BigDecimal(
            "3.14159265358979323846264338327950288419716939937510582097494459230781640628620899862803482534211706798214808651328230664709384460955058223172535940812848111745028410270193852110555964462294895493038196");
    private static final BigDecimal TWO_OVER_SQRT_PI = BigDecimal.valueOf(2).divide(PI.sqrt(MC), MC);

    static BigDecimal erf(BigDecimal x) {
        if (x.abs().compareTo(BigDecimal.valueOf(9.5)) > 0) {
            throw new IllegalArgumentException("reference erf only valid for |x| <= 9.5");
        }
        double xd = x.doubleValue();
        int digits = 30 + (int) Math.ceil(2 * xd * xd / Math.log(10));
        MathContext mc = new MathContext(digits);
        BigDecimal eps = BigDecimal.ONE.scaleByPowerOfTen(-(digits + 5));
        BigDecimal x2 = x.multiply(x, mc);
        BigDecimal power = x.round(mc); // (-1)^n x^(2n+1) / n!
        BigDecimal sum = BigDecimal.ZERO;
        for (int n = 0; ; n++) {
            BigDecimal term = power.divide(BigDecimal.valueOf(2L * n + 1), mc);
            sum = sum.add(term, mc);
            if (n > 2 * xd * xd + 5 && term.abs().compareTo(eps) < 0) {
                break;
            }
            power = power.multiply(x2, mc).divide(BigDecimal.valueOf(-(n + 1L)), mc);
        }
        return sum.multiply(TWO_OVER_SQRT_PI, MC);
    }

    /** gelu(x) = x Phi(x) = 0.5 x erfc(-x / sqrt 2), the scaling done in BigDecimal too. */
    static double gelu(double x) {
        if (x > 13) {
            return x; // Phi(x) = 1 - 6e-39 or closer: x to double precision
        }
        if (x <= -20) {
            return 0.0; // |x Phi(x)| < 1e-87, zero even in float's subnormal range
        }
        if (x < -13.4) {
            throw new IllegalArgumentException("reference gelu has no shortcut for " + x); // erf range ends
        }
        BigDecimal bx = new BigDecimal(x);
        BigDecimal z = bx.negate().divide(BigDecimal.valueOf(2).sqrt(MC), MC);
        BigDecimal cdf = BigDecimal.ONE.subtract(erf(z), MC).multiply(new BigDecimal("0.5"), MC);
        return bx.multiply(cdf, MC).doubleValue();
    }
}
