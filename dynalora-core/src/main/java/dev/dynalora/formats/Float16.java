package dev.dynalora.formats;

/**
 * Conversions between float32 and the 16-bit (and 8-bit) float formats found in checkpoints. Java 17 has no
 * {@code Float.float16ToFloat} (it arrived in Java 20), so we do the bit work here. All conversions to float
 * are exact: every half, bfloat16 and fp8 value is representable as a float32.
 */
public final class Float16 {
    private Float16() {
    }

    /**
     * IEEE 754 binary16 (the low 16 bits of {@code bits}) to float: zeros keep their sign, subnormals
     * (exponent field 0) are {@code mantissa * 2^-24}, exponent field 31 is infinity or NaN (the payload is
     * carried over, so a NaN stays a NaN).
     */
    public static float toFloat(int bits) {
        int h = bits & 0xffff;
        int sign = (h & 0x8000) << 16;
        int exp = (h >>> 10) & 0x1f;
        int mant = h & 0x3ff;
        if (exp == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        }
        if (exp == 0) {
            // Zero or subnormal. mant * 2^-24 is exact in float32 (10 significant bits, exponent >= -24), and
            // it is what no bit shuffling can produce directly because float32 normalises it.
            float v = mant * 0x1p-24f;
            return sign != 0 ? -v : v;
        }
        // Normal: rebias the exponent from 15 to 127 (difference 112), widen the mantissa from 10 to 23 bits.
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }

    /**
     * Float to IEEE 754 binary16 bits, rounding to nearest, ties to even (as numpy and PyTorch do). Values of
     * magnitude 65520 and above become infinity; NaN stays NaN.
     */
    public static short fromFloat(float value) {
        int f = Float.floatToRawIntBits(value);
        int sign = (f >>> 16) & 0x8000;
        int abs = f & 0x7fffffff;
        if (abs >= 0x7f800000) { // infinity or NaN
            if (abs == 0x7f800000) {
                return (short) (sign | 0x7c00);
            }
            return (short) (sign | 0x7e00 | ((abs >>> 13) & 0x3ff)); // quiet NaN, payload kept where it fits
        }
        if (abs >= 0x477ff000) { // >= 65520: rounds past the largest half (65504)
            return (short) (sign | 0x7c00);
        }
        if (abs < 0x38800000) { // below 2^-14, the smallest normal half: subnormal or zero
            // value * 2^24 is exact (scaling by a power of two); rint rounds half to even. A result of
            // 0x400 is the smallest normal, which is the correct encoding for values that round up to it.
            float scaled = Float.intBitsToFloat(abs) * 0x1p24f;
            return (short) (sign | (int) Math.rint(scaled));
        }
        // Normal: rebias exponent (subtract 112 << 23), drop 13 mantissa bits with round-half-even. A carry
        // out of the mantissa correctly bumps the exponent.
        int h = (abs - 0x38000000) >>> 13;
        int rest = abs & 0x1fff;
        if (rest > 0x1000 || (rest == 0x1000 && (h & 1) != 0)) {
            h++;
        }
        return (short) (sign | h);
    }

    /** bfloat16 (the low 16 bits of {@code bits}) to float: bfloat16 is the top half of a float32. */
    public static float bf16ToFloat(int bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /** Float to bfloat16 bits, rounding to nearest, ties to even; NaN stays NaN. */
    public static short bf16FromFloat(float value) {
        int f = Float.floatToRawIntBits(value);
        if ((f & 0x7fffffff) > 0x7f800000) {
            return (short) ((f >>> 16) | 0x0040); // quiet NaN; rounding could otherwise carry it into infinity
        }
        int rounding = 0x7fff + ((f >>> 16) & 1);
        return (short) ((f + rounding) >>> 16);
    }

    /** OCP FP8 E5M2 (low 8 bits) to float: it is the top byte of a binary16. */
    public static float e5m2ToFloat(int bits) {
        return toFloat((bits & 0xff) << 8);
    }

    /**
     * OCP FP8 E4M3 "FN" variant (PyTorch float8_e4m3fn; low 8 bits) to float: exponent bias 7, no
     * infinities, S.1111.111 is NaN, exponent field 0 is subnormal ({@code mantissa * 2^-9}).
     */
    public static float e4m3ToFloat(int bits) {
        int b = bits & 0xff;
        boolean negative = (b & 0x80) != 0;
        int exp = (b >>> 3) & 0xf;
        int mant = b & 0x7;
        float v;
        if (exp == 0xf && mant == 0x7) {
            return Float.NaN;
        } else if (exp == 0) {
            v = mant * 0x1p-9f;
        } else {
            v = Math.scalb(1f + mant / 8f, exp - 7);
        }
        return negative ? -v : v;
    }

    /** FP8 E8M0 (an unsigned power-of-two scale, used for MX block scales) to float: 2^(bits-127), 0xff NaN. */
    public static float e8m0ToFloat(int bits) {
        int b = bits & 0xff;
        return b == 0xff ? Float.NaN : Math.scalb(1f, b - 127);
    }
}
