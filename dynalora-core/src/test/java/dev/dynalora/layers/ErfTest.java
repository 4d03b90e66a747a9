package dev.dynalora.layers;

import dev.dynalora.kernels.Erf;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class ErfTest {

    /** Grid over [-9, 9], the interval boundaries of the piecewise approximation on both sides, tiny values. */
    static List<Double> points() {
        List<Double> xs = new ArrayList<>();
        for (int i = -90; i <= 90; i++) {
            xs.add(i * 0.1);
        }
        double[] special = {0.84375, 1.25, 1 / 0.35, 6.0, 0.25, 1e-3, 1e-9, 1e-20, 3.7252902984e-09, 1e-300, 0.0};
        for (double s : special) {
            xs.add(s);
            xs.add(-s);
            xs.add(Math.nextUp(s));
            xs.add(Math.nextDown(s));
            xs.add(-Math.nextUp(s));
        }
        Random r = new Random(5);
        for (int i = 0; i < 100; i++) {
            xs.add(r.nextDouble() * 18 - 9);
        }
        return xs;
    }

    @Test
    void erfAndErfcAgreeWithHighPrecisionSeries() {
        double worstErf = 0, worstErfc = 0;
        for (double x : points()) {
            java.math.BigDecimal big = BigErf.erf(new java.math.BigDecimal(x));
            double e = big.doubleValue();
            double c = java.math.BigDecimal.ONE.subtract(big).doubleValue(); // exact subtraction
            double gotE = Erf.erf(x);
            double gotC = Erf.erfc(x);
            // Relative error (absolute below 1e-300, where only underflow remains).
            double relE = Math.abs(gotE - e) / Math.max(Math.abs(e), 1e-300);
            double relC = Math.abs(gotC - c) / Math.max(Math.abs(c), 1e-300);
            assertTrue(relE < 1e-14, "erf(" + x + ") = " + gotE + ", expected " + e);
            assertTrue(relC < 1e-14, "erfc(" + x + ") = " + gotC + ", expected " + c);
            worstErf = Math.max(worstErf, relE);
            worstErfc = Math.max(worstErfc, relC);
        }
        // FDLIBM's documented bound is about one ulp (1.1e-16 relative); a typo in a coefficient shows up as
        // orders of magnitude more.
        assertTrue(worstErf < 1e-15, "worst erf relative error " + worstErf);
        assertTrue(worstErfc < 1e-15, "worst erfc relative error " + worstErfc);
    }

    @Test
    void floatTailVariantStaysWithinFloatResolution() {
        // Gelu uses the single-exp tail; it must agree with the exactly split one far below float's 6e-8.
        // The single exp's rounding error grows as x^2 * 1e-16: <= 1e-14 up to x = 9.4, where GELU's
        // argument range ends (gelu underflows float beyond x = -13.3, i.e. erfc argument 9.4).
        for (double x = -9; x <= 26; x += 0.01) { // erfc(26) ~ 6e-296, still a normal double
            double exact = Erf.erfc(x);
            double fast = Erf.erfcForFloat(x);
            double rel = Math.max(1e-15, x * x * 4e-16);
            assertEquals(exact, fast, Math.abs(exact) * rel, "erfc(" + x + ")");
        }
        assertEquals(2.0, Erf.erfcForFloat(-7));
        assertEquals(0.0, Erf.erfcForFloat(30));
    }

    @Test
    void specialValues() {
        assertEquals(0.0, Erf.erf(0.0));
        assertEquals(1.0, Erf.erfc(0.0));
        assertEquals(1.0, Erf.erf(Double.POSITIVE_INFINITY));
        assertEquals(-1.0, Erf.erf(Double.NEGATIVE_INFINITY));
        assertEquals(0.0, Erf.erfc(Double.POSITIVE_INFINITY));
        assertEquals(2.0, Erf.erfc(Double.NEGATIVE_INFINITY));
        assertTrue(Double.isNaN(Erf.erf(Double.NaN)));
        assertTrue(Double.isNaN(Erf.erfc(Double.NaN)));
        // erfc in the far tail stays relatively accurate (erfc(20) = 5.3958656116079e-176)
        assertEquals(5.3958656116079e-176, Erf.erfc(20.0), 5.3958656116079e-176 * 1e-12);
        assertEquals(0.0, Erf.erfc(30.0));
        // oddness holds exactly
        for (double x = 0.01; x < 7; x += 0.37) {
            assertEquals(-Erf.erf(x), Erf.erf(-x));
        }
    }
}
