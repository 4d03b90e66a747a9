package dev.dynalora.formats;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The 16-bit conversions used when reading F16/BF16 checkpoints. */
class SafetensorsFloat16Test {

    /** Reference decoding straight from the IEEE 754 definition, in double arithmetic. */
    private static double reference(int h) {
        int sign = (h >>> 15) & 1;
        int exp = (h >>> 10) & 0x1f;
        int mant = h & 0x3ff;
        double v;
        if (exp == 0) {
            v = mant * Math.pow(2, -24);
        } else if (exp == 31) {
            v = mant == 0 ? Double.POSITIVE_INFINITY : Double.NaN;
        } else {
            v = (1 + mant / 1024.0) * Math.pow(2, exp - 15);
        }
        return sign == 1 ? -v : v;
    }

    @Test
    void everyHalfDecodesExactly() {
        for (int h = 0; h < 0x10000; h++) {
            float f = Float16.toFloat(h);
            double r = reference(h);
            if (Double.isNaN(r)) {
                assertTrue(Float.isNaN(f), "NaN at " + Integer.toHexString(h));
            } else {
                assertEquals(r, f, 0.0, "half 0x" + Integer.toHexString(h));
                // Signed zero must survive: -0.0 matters e.g. for 1/x in tests comparing with PyTorch.
                assertEquals(Double.doubleToRawLongBits(r) >>> 63, (long) (Float.floatToRawIntBits(f) >>> 31),
                        "sign at 0x" + Integer.toHexString(h));
            }
        }
    }

    @Test
    void knownValues() {
        assertEquals(1.0f, Float16.toFloat(0x3c00));
        assertEquals(-2.0f, Float16.toFloat(0xc000));
        assertEquals(65504f, Float16.toFloat(0x7bff));
        assertEquals(0x1p-24f, Float16.toFloat(0x0001)); // smallest subnormal
        assertEquals(1023 * 0x1p-24f, Float16.toFloat(0x03ff)); // largest subnormal
        assertEquals(0x1p-14f, Float16.toFloat(0x0400)); // smallest normal
        assertEquals(Float.POSITIVE_INFINITY, Float16.toFloat(0x7c00));
        assertEquals(Float.NEGATIVE_INFINITY, Float16.toFloat(0xfc00));
        assertTrue(Float.isNaN(Float16.toFloat(0x7e00)));
        assertTrue(Float.isNaN(Float16.toFloat(0x7c01)));
        assertEquals(Float.floatToRawIntBits(-0.0f), Float.floatToRawIntBits(Float16.toFloat(0x8000)));
        assertEquals(1.0f, Float16.toFloat((short) 0x3c00)); // a sign-extended short argument works too
        assertEquals(-2.0f, Float16.toFloat((short) 0xc000));
    }

    @Test
    void encodingRoundTripsEveryHalf() {
        for (int h = 0; h < 0x10000; h++) {
            float f = Float16.toFloat(h);
            if (!Float.isNaN(f)) {
                assertEquals(h, Float16.fromFloat(f) & 0xffff, "round trip of 0x" + Integer.toHexString(h));
            } else {
                assertTrue(Float.isNaN(Float16.toFloat(Float16.fromFloat(f))));
            }
        }
    }

    @Test
    void encodingRoundsToNearestEven() {
        // Halfway between 1 and the next half (1 + 2^-10) goes to the even one, 1.
        assertEquals(0x3c00, Float16.fromFloat(1f + 0x1p-11f));
        // Just above halfway rounds up.
        assertEquals(0x3c01, Float16.fromFloat(1f + 0x1p-11f + 0x1p-20f));
        // Halfway between 0x3c01 and 0x3c02 goes to the even 0x3c02.
        assertEquals(0x3c02, Float16.fromFloat(1f + 3 * 0x1p-11f));
        assertEquals(0x7bff, Float16.fromFloat(65519f)); // below the 65520 tie: largest finite
        assertEquals(0x7c00, Float16.fromFloat(65520f)); // the tie rounds to even, which is infinity
        assertEquals(0x0001, Float16.fromFloat(0x1p-24f));
        assertEquals(0x0000, Float16.fromFloat(0x1p-25f)); // tie with 0: even
        assertEquals(0x0001, Float16.fromFloat(0x1.8p-25f));
        assertEquals((short) 0x8000, Float16.fromFloat(-0.0f));
        assertEquals((short) 0xfc00, Float16.fromFloat(Float.NEGATIVE_INFINITY));
    }

    @Test
    void bfloat16() {
        assertEquals(1.0f, Float16.bf16ToFloat(0x3f80));
        assertEquals(-2.0f, Float16.bf16ToFloat((short) 0xc000));
        assertEquals(Float.POSITIVE_INFINITY, Float16.bf16ToFloat(0x7f80));
        assertTrue(Float.isNaN(Float16.bf16ToFloat(0x7fc0)));
        for (int h = 0; h < 0x10000; h++) {
            float f = Float16.bf16ToFloat(h);
            if (!Float.isNaN(f)) {
                assertEquals(h, Float16.bf16FromFloat(f) & 0xffff);
            }
        }
        assertEquals(0x3f80, Float16.bf16FromFloat(1f + 0x1p-8f)); // tie to even
        assertEquals(0x3f81, Float16.bf16FromFloat(1f + 0x1p-8f + 0x1p-20f));
        assertTrue(Float.isNaN(Float16.bf16ToFloat(Float16.bf16FromFloat(Float.NaN))));
    }

    @Test
    void fp8() {
        assertEquals(1.0f, Float16.e5m2ToFloat(0x3c));
        assertEquals(1.0f, Float16.e4m3ToFloat(0x38)); // exponent 7 (bias 7), mantissa 0
        assertEquals(448f, Float16.e4m3ToFloat(0x7e)); // largest E4M3FN
        assertEquals(-0x1p-9f, Float16.e4m3ToFloat(0x81)); // smallest subnormal, negative
        assertTrue(Float.isNaN(Float16.e4m3ToFloat(0x7f)));
        assertEquals(1.0f, Float16.e8m0ToFloat(127));
        assertEquals(0x1p-127f, Float16.e8m0ToFloat(0));
        assertTrue(Float.isNaN(Float16.e8m0ToFloat(0xff)));
    }
}
