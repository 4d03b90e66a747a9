package dev.dynalora.kernels.vector;

/**
 * Constants of the float exp(x) that the vectorised GELU and softmax kernels share (Cephes expf, about
 * 1 ulp): x = k ln 2 + r with |r| &lt;= ln 2 / 2, exp(r) = 1 + r + r^2 E(r). Kept as plain float constants
 * so each kernel's {@code static final} vectors fold them in at compile time.
 */
final class ExpfConstants {
    private ExpfConstants() {
    }

    static final float E0 = 1.9875691500e-4f;
    static final float E1 = 1.3981999507e-3f;
    static final float E2 = 8.3334519073e-3f;
    static final float E3 = 4.1665795894e-2f;
    static final float E4 = 1.6666665459e-1f;
    static final float E5 = 5.0000001201e-1f;
    static final float LOG2E = 1.44269504088896341f;
    /** ln 2 = LN2_HI + LN2_LO, LN2_HI the float nearest ln 2: with fma, k ln 2 is subtracted exactly enough. */
    static final float LN2_HI = 0.693147182464599609375f;
    static final float LN2_LO = -1.904654323148236e-9f;
    /** 1.5 * 2^23: adding it rounds a float of magnitude below 2^22 to an integer. */
    static final float ROUND = 12582912f;
}
