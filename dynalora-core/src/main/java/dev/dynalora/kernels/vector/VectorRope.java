package dev.dynalora.kernels.vector;

import dev.dynalora.kernels.Kernels;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Rotate-half RoPE on the Vector API ({@link dev.dynalora.kernels.Kernels#rope}): each head's pairs
 * (i, i + half) rotated by its token's row of the cos/sin tables, one product and one sum or difference per
 * output, so the result does not depend on the vector width or the thread split.
 */
public final class VectorRope {

    private VectorRope() {
    }

    /** Below this many elements the work runs on the calling thread. */
    private static final int MIN_PARALLEL = 1 << 14;

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    /** See {@link dev.dynalora.kernels.Kernels#rope}. */
    public static void rope(Kernels k, float[] out, float[] x, int[] positions, int rows, int heads, int headDim,
                            float[] cos, float[] sinTable) {
        int half = headDim / 2;
        long n = (long) rows * heads * headDim;
        int width = heads * headDim;
        Kernels.RangeBody body = (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int t = positions[r] * half;
                for (int h = 0; h < heads; h++) {
                    rotateHead(out, x, r * width + h * headDim, half, cos, sinTable, t);
                }
            }
        };
        if (n < MIN_PARALLEL) {
            if (rows > 0) {
                body.run(0, rows);
            }
        } else {
            k.parallelFor(rows, body);
        }
    }

    /** One head: pairs (i, i + half) rotated by the table row at t. Reads both halves before writing either. */
    private static void rotateHead(float[] out, float[] x, int base, int half, float[] cos, float[] sinTable, int t) {
        int i = 0;
        for (int end = S.loopBound(half); i < end; i += L) {
            FloatVector x1 = FloatVector.fromArray(S, x, base + i);
            FloatVector x2 = FloatVector.fromArray(S, x, base + half + i);
            FloatVector c = FloatVector.fromArray(S, cos, t + i);
            FloatVector s = FloatVector.fromArray(S, sinTable, t + i);
            x1.mul(c).sub(x2.mul(s)).intoArray(out, base + i);
            x2.mul(c).add(x1.mul(s)).intoArray(out, base + half + i);
        }
        for (; i < half; i++) {
            float x1 = x[base + i];
            float x2 = x[base + half + i];
            float c = cos[t + i];
            float s = sinTable[t + i];
            out[base + i] = x1 * c - x2 * s;
            out[base + half + i] = x2 * c + x1 * s;
        }
    }
}
