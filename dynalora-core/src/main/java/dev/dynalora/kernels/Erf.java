package dev.dynalora.kernels;

/**
 * The error function and its complement in double precision. Java has no {@code Math.erf}, and GELU needs
 * one that is accurate across the whole range: the common Abramowitz-Stegun 7.1.26 fit has ~1e-7 absolute
 * error, which is a large relative error for small |x| and for the far negative tail that GELU lives on.
 *
 * <p>Method and coefficients are those of the Sun FDLIBM {@code s_erf.c} (Copyright (C) 1993 by Sun
 * Microsystems, Inc.; "Permission to use, copy, modify, and distribute this software is freely granted,
 * provided that this notice is preserved."): rational approximations on [0, 0.84375], [0.84375, 1.25],
 * [1.25, 1/0.35] and [1/0.35, 28], each below one ulp of double. Evaluating in double and rounding to
 * float gives a correctly rounded float in practice, far inside the 1e-7 relative the layers need.
 *
 * <p>Used by {@link ScalarKernels}' GELU and by the double-precision GELU reference of the layer tests; the
 * Vector API backend evaluates GELU with its own float approximation.
 */
public final class Erf {

    private Erf() {
    }

    /** erf(1) rounded to 24 bits: the split point of the [0.84375, 1.25] interval. */
    private static final double ERX = 8.45062911510467529297e-01;
    /** 2/sqrt(pi) - 1, used for tiny |x| where erf(x) ~ x * 2/sqrt(pi). */
    private static final double EFX = 1.28379167095512586316e-01;

    // erf(x) = x + x*P(x^2)/Q(x^2) on [0, 0.84375]
    private static final double PP0 = 1.28379167095512558561e-01;
    private static final double PP1 = -3.25042107247001499370e-01;
    private static final double PP2 = -2.84817495755985104766e-02;
    private static final double PP3 = -5.77027029648944159157e-03;
    private static final double PP4 = -2.37630166566501626084e-05;
    private static final double QQ1 = 3.97917223959155352819e-01;
    private static final double QQ2 = 6.50222499887672944485e-02;
    private static final double QQ3 = 5.08130628187576562776e-03;
    private static final double QQ4 = 1.32494738004321644526e-04;
    private static final double QQ5 = -3.96022827877536812320e-06;

    // erf(1+s) = ERX + P(s)/Q(s) on [0.84375, 1.25]
    private static final double PA0 = -2.36211856075265944077e-03;
    private static final double PA1 = 4.14856118683748331666e-01;
    private static final double PA2 = -3.72207876035701323847e-01;
    private static final double PA3 = 3.18346619901161753674e-01;
    private static final double PA4 = -1.10894694282396677476e-01;
    private static final double PA5 = 3.54783043256182359371e-02;
    private static final double PA6 = -2.16637559486879084300e-03;
    private static final double QA1 = 1.06420880400844228286e-01;
    private static final double QA2 = 5.40397917702171048937e-01;
    private static final double QA3 = 7.18286544141962662868e-02;
    private static final double QA4 = 1.26171219808761642112e-01;
    private static final double QA5 = 1.36370839120290507362e-02;
    private static final double QA6 = 1.19844998467991074170e-02;

    // erfc(x) = exp(-x^2 - 0.5625 + R(1/x^2)/S(1/x^2)) / x on [1.25, 1/0.35]
    private static final double RA0 = -9.86494403484714822705e-03;
    private static final double RA1 = -6.93858572707181764372e-01;
    private static final double RA2 = -1.05586262253232909814e+01;
    private static final double RA3 = -6.23753324503260060396e+01;
    private static final double RA4 = -1.62396669462573470355e+02;
    private static final double RA5 = -1.84605092906711035994e+02;
    private static final double RA6 = -8.12874355063065934246e+01;
    private static final double RA7 = -9.81432934416914548592e+00;
    private static final double SA1 = 1.96512716674392571292e+01;
    private static final double SA2 = 1.37657754143519042600e+02;
    private static final double SA3 = 4.34565877475229228821e+02;
    private static final double SA4 = 6.45387271733267880336e+02;
    private static final double SA5 = 4.29008140027567833386e+02;
    private static final double SA6 = 1.08635005541779435134e+02;
    private static final double SA7 = 6.57024977031928170135e+00;
    private static final double SA8 = -6.04244152148580987438e-02;

    // the same form on [1/0.35, 28]
    private static final double RB0 = -9.86494292470009928597e-03;
    private static final double RB1 = -7.99283237680523006574e-01;
    private static final double RB2 = -1.77579549177547519889e+01;
    private static final double RB3 = -1.60636384855821916062e+02;
    private static final double RB4 = -6.37566443368389627722e+02;
    private static final double RB5 = -1.02509513161107724954e+03;
    private static final double RB6 = -4.83519191608651397019e+02;
    private static final double SB1 = 3.03380607434824582924e+01;
    private static final double SB2 = 3.25792512996573918826e+02;
    private static final double SB3 = 1.53672958608443695994e+03;
    private static final double SB4 = 3.19985821950859553908e+03;
    private static final double SB5 = 2.55305040643316442583e+03;
    private static final double SB6 = 4.74528541206955367215e+02;
    private static final double SB7 = -2.24409524465858183362e+01;

    /** erf(x) to within about one ulp of double. */
    public static double erf(double x) {
        if (Double.isNaN(x)) {
            return x;
        }
        double ax = Math.abs(x);
        if (ax < 0.84375) {
            if (ax < 0x1p-28) {
                return x + EFX * x; // the rational part is below one ulp here
            }
            double z = x * x;
            return x + x * smallRatio(z);
        }
        if (ax < 1.25) {
            double r = ERX + midRatio(ax - 1.0);
            return x >= 0 ? r : -r;
        }
        if (ax >= 6.0) {
            return x >= 0 ? 1.0 : -1.0; // erfc(6) ~ 2e-17 is below half an ulp of 1
        }
        double r = 1.0 - tail(ax, true);
        return x >= 0 ? r : -r;
    }

    /**
     * erfc(x) = 1 - erf(x), accurate in relative terms also where it is tiny (x up to ~26.5 before it
     * underflows), which is what keeps GELU's far negative tail exact rather than a cancelled zero.
     */
    public static double erfc(double x) {
        return erfc(x, true);
    }

    /**
     * erfc for results that will be rounded to float: identical to {@link #erfc(double)} except that the
     * tail takes exp(-x^2 - 0.5625 + R/S) in one call instead of FDLIBM's exactly split product. The split
     * only guards the last double bits: the single call's relative error is ~x^2 * 2e-16, at most ~2e-14
     * over the arguments GELU passes before its result underflows float (|x| <= 9.4), and skipping it
     * saves one exp per element.
     */
    public static double erfcForFloat(double x) {
        return erfc(x, false);
    }

    private static double erfc(double x, boolean exactTail) {
        if (Double.isNaN(x)) {
            return x;
        }
        double ax = Math.abs(x);
        if (ax < 0.84375) {
            if (ax < 0x1p-56) {
                return 1.0 - x;
            }
            double y = x * smallRatio(x * x);
            if (x < 0.25) {
                return 1.0 - (x + y);
            }
            return 0.5 - (x - 0.5 + y); // avoids cancellation as erfc approaches 0.5 from above
        }
        if (ax < 1.25) {
            double r = midRatio(ax - 1.0);
            return x >= 0 ? (1.0 - ERX) - r : 1.0 + (ERX + r);
        }
        if (x < -6.0) {
            return 2.0; // erfc(-6) = 2 - 2e-17: 2 is the nearest double
        }
        if (x >= 28.0) {
            return 0.0; // true value < 1e-300, underflows anyway
        }
        double t = tail(ax, exactTail);
        return x > 0 ? t : 2.0 - t;
    }

    /** (erf(x) - x) / x on |x| < 0.84375 as a function of z = x^2. */
    private static double smallRatio(double z) {
        double r = PP0 + z * (PP1 + z * (PP2 + z * (PP3 + z * PP4)));
        double s = 1.0 + z * (QQ1 + z * (QQ2 + z * (QQ3 + z * (QQ4 + z * QQ5))));
        return r / s;
    }

    /** erf(1+s) - ERX on s in [-0.15625, 0.25]. */
    private static double midRatio(double s) {
        double p = PA0 + s * (PA1 + s * (PA2 + s * (PA3 + s * (PA4 + s * (PA5 + s * PA6)))));
        double q = 1.0 + s * (QA1 + s * (QA2 + s * (QA3 + s * (QA4 + s * (QA5 + s * QA6)))));
        return p / q;
    }

    /** erfc(ax) for ax in [1.25, 28). */
    private static double tail(double ax, boolean exact) {
        double s = 1.0 / (ax * ax);
        double r;
        double ss;
        if (ax < 1.0 / 0.35) {
            r = RA0 + s * (RA1 + s * (RA2 + s * (RA3 + s * (RA4 + s * (RA5 + s * (RA6 + s * RA7))))));
            ss = 1.0 + s * (SA1 + s * (SA2 + s * (SA3 + s * (SA4 + s * (SA5 + s * (SA6 + s * (SA7 + s * SA8)))))));
        } else {
            r = RB0 + s * (RB1 + s * (RB2 + s * (RB3 + s * (RB4 + s * (RB5 + s * RB6)))));
            ss = 1.0 + s * (SB1 + s * (SB2 + s * (SB3 + s * (SB4 + s * (SB5 + s * (SB6 + s * SB7))))));
        }
        double ratio = r / ss;
        if (!exact) {
            return Math.exp(-ax * ax - 0.5625 + ratio) / ax;
        }
        // exp(-ax^2) is split as exp(-z^2 - 0.5625) * exp((z - ax)(z + ax)) with z = ax truncated to its
        // high 32 bits, so z^2 is exact and the large exponent carries no rounding error.
        double z = Double.longBitsToDouble(Double.doubleToRawLongBits(ax) & 0xffffffff00000000L);
        return Math.exp(-z * z - 0.5625) * Math.exp((z - ax) * (z + ax) + ratio) / ax;
    }
}
