package dev.dynalora.formats.peft;

/**
 * LoRA's scaling as PEFT computes it, and the numbers written for it: adapter files must give a loader exactly
 * the float scaling our adapters apply.
 */
final class LoraScaling {
    private LoraScaling() {
    }

    /**
     * The scaling a loader gets from alpha and r: alpha / r (alpha / sqrt(r) with rsLoRA) in double, as PEFT
     * computes it in Python, rounded to float as it is applied to float32 tensors.
     */
    static float scalingOf(double alpha, int r, boolean rsLora) {
        return (float) (rsLora ? alpha / Math.sqrt(r) : alpha / r);
    }

    /**
     * An alpha with scalingOf(alpha, r) == s. Without rsLoRA, s * r is exact in double (24 + 31 bits < 53), and so
     * is its division by r; with rsLoRA the double error is far below half a float ulp of s, but we check anyway.
     */
    static double alphaFor(float s, int r, boolean rsLora, String module) {
        double alpha = rsLora ? s * Math.sqrt(r) : (double) s * r;
        double up = alpha;
        double down = alpha;
        for (int i = 0; i < 64; i++) {
            if (scalingOf(up, r, rsLora) == s) {
                return up;
            }
            if (scalingOf(down, r, rsLora) == s) {
                return down;
            }
            up = Math.nextUp(up);
            down = Math.nextDown(down);
        }
        throw new IllegalStateException("no alpha reproduces scaling " + s + " at rank " + r + " for " + module);
    }

    /**
     * A float as the decimal it was most likely typed as (0.1f as 0.1, not 0.10000000149011612): what a PEFT user
     * writes and reads. Scalings are checked against this value, so nothing depends on it being exact.
     */
    static double plain(float f) {
        return Double.parseDouble(Float.toString(f));
    }

    /** Integral values as JSON integers (lora_alpha = 16, not 16.0), others as the exact double. */
    static Object number(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return (long) v;
        }
        return v;
    }
}
