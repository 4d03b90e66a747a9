package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;

/**
 * Rotary position embedding in the rotate-half convention of Hugging Face's Llama (and GPT-NeoX): within
 * each head of headDim = 2 * half values, element i is paired with element i + half and the pair is
 * rotated by the angle pos * theta^(-2i / headDim):
 * <pre>
 *   out[i]        = x[i] cos - x[i + half] sin
 *   out[i + half] = x[i + half] cos + x[i] sin
 * </pre>
 * applied to activations [tokens, heads * headDim] (the q or k projection output) with one position per
 * token. The rotation is orthogonal, so backward is the rotation by the negated angle (the transpose).
 *
 * <p>Angles are computed the way transformers' LlamaRotaryEmbedding (and the PyTorch reference) computes
 * them, in float32: inv_freq = 1 / float(theta^(2i / headDim)), angle = float(pos) * inv_freq. At position
 * 255 the float angle is off the exact one by up to 1.5e-5 radians; taking the exact angle would be more
 * accurate but would not be the model the checkpoints were trained and are evaluated with.
 *
 * <p>A Rope holds its cos/sin tables for positions [0, maxPositions), built once per model, checks the
 * positions and runs {@link Kernels#rope} with them (with the negated sines for backward).
 */
public final class Rope {

    private final int headDim;
    private final int half;
    private final int maxPositions;
    private final float[] cos;    // [maxPositions, half]
    private final float[] sin;    // [maxPositions, half]
    private final float[] negSin; // -sin: the inverse rotation, so backward runs the same loop

    /**
     * @param headDim      the per-head width, even
     * @param maxPositions positions [0, maxPositions) get a table row (max_position_embeddings)
     * @param theta        the RoPE base (rope_theta, 10000 for Llama 2)
     */
    public Rope(int headDim, int maxPositions, double theta) {
        Checks.positive(headDim, "headDim");
        Checks.positive(maxPositions, "maxPositions");
        if (headDim % 2 != 0) {
            throw new IllegalArgumentException("rotate-half RoPE needs an even head dimension, got " + headDim);
        }
        if (!(theta > 0) || Double.isInfinite(theta)) {
            throw new IllegalArgumentException("RoPE theta must be a positive number, got " + theta);
        }
        this.headDim = headDim;
        this.half = headDim / 2;
        this.maxPositions = maxPositions;
        long n = (long) maxPositions * half;
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("RoPE table for " + maxPositions + " positions exceeds one Java array");
        }
        cos = new float[(int) n];
        sin = new float[(int) n];
        negSin = new float[(int) n];
        for (int i = 0; i < half; i++) {
            float exponent = (float) (2 * i) / headDim;
            float invFreq = 1f / (float) Math.pow(theta, exponent);
            for (int p = 0; p < maxPositions; p++) {
                float angle = (float) p * invFreq;
                int at = p * half + i;
                cos[at] = (float) Math.cos(angle);
                sin[at] = (float) Math.sin(angle);
                negSin[at] = -sin[at];
            }
        }
    }

    public int headDim() {
        return headDim;
    }

    public int maxPositions() {
        return maxPositions;
    }

    /**
     * out = rope(x). out may be the same array as x (in place).
     *
     * @param x         [rows, heads * headDim]
     * @param positions [rows] each token's position, in [0, maxPositions)
     */
    public void forward(Kernels k, float[] out, float[] x, int[] positions, int rows, int heads) {
        rotate(k, out, x, positions, rows, heads, sin);
    }

    /**
     * dx = rope^T(dout), the inverse rotation (written, not accumulated). dx may be the same array as dout.
     */
    public void backward(Kernels k, float[] dx, float[] dout, int[] positions, int rows, int heads) {
        rotate(k, dx, dout, positions, rows, heads, negSin);
    }

    private void rotate(Kernels k, float[] out, float[] x, int[] positions, int rows, int heads, float[] sinTable) {
        Checks.nonNegative(rows, "rows");
        Checks.positive(heads, "heads");
        long n = (long) rows * heads * headDim;
        Checks.len(out, n, "out");
        Checks.len(x, n, "x");
        Checks.len(positions, rows, "positions");
        for (int r = 0; r < rows; r++) {
            int p = positions[r];
            if (p < 0 || p >= maxPositions) {
                throw new IllegalArgumentException("position " + p + " at row " + r + " is outside [0, " + maxPositions + ")");
            }
        }
        k.rope(out, x, positions, rows, heads, headDim, cos, sinTable);
    }
}
