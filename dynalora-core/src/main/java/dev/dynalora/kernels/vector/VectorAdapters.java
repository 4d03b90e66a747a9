package dev.dynalora.kernels.vector;

import dev.dynalora.kernels.Kernels;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * The adapters' element-wise and row work around their products: LoRA's scaling (times Dynamic LoRA's gate)
 * of the rank-space activations and the gate's gradient from them, AdaLoRA's singular-value column scaling,
 * and Dynamic LoRA's input gate, forward and backward ({@link dev.dynalora.kernels.Kernels#gateForward},
 * {@link dev.dynalora.kernels.Kernels#gateBackward}). The rank-space arrays are small ([rows, r]) and stay on
 * the calling thread; the gate's passes over all tokens of x are spread over the threads by gate unit (an
 * example, or a token), each unit's arithmetic the same whatever the split.
 */
public final class VectorAdapters {

    private VectorAdapters() {
    }

    private static final VectorSpecies<Float> V = FloatVector.SPECIES_PREFERRED;

    /** See {@link dev.dynalora.kernels.Kernels#scaleRows}. */
    public static void scaleRows(float[] out, float[] x, int rows, int cols, float alpha, float[] rowFactor,
                                 int rowsPerFactor) {
        if (rowFactor == null) {
            for (int i = 0; i < rows * cols; i++) {
                out[i] = alpha * x[i];
            }
            return;
        }
        for (int i = 0; i < rows; i++) {
            float f = alpha * rowFactor[i / rowsPerFactor];
            for (int j = 0; j < cols; j++) {
                out[i * cols + j] = f * x[i * cols + j];
            }
        }
    }

    /** See {@link dev.dynalora.kernels.Kernels#rowDotsAccumulate}. */
    public static void rowDotsAccumulate(float[] out, float[] a, float[] b, int rows, int cols, float scale,
                                         int rowsPerOut) {
        for (int i = 0; i < rows; i++) {
            double s = 0;
            for (int j = 0; j < cols; j++) {
                s += (double) a[i * cols + j] * b[i * cols + j];
            }
            out[i / rowsPerOut] += (float) (s * scale);
        }
    }

    /** See {@link dev.dynalora.kernels.Kernels#scaleColumns}. */
    public static void scaleColumns(float[] out, float[] x, int rows, int cols, float[] colScale) {
        for (int i = 0; i < rows; i++) {
            int o = i * cols;
            for (int j = 0; j < cols; j++) {
                out[o + j] = x[o + j] * colScale[j];
            }
        }
    }

    /** See {@link dev.dynalora.kernels.Kernels#scaleColumnsBackward}. */
    public static void scaleColumnsBackward(float[] d, float[] x, float[] colScale, int rows, int cols, float factor,
                                            float[] colGrad) {
        double[] sums = new double[cols];
        for (int i = 0; i < rows; i++) {
            int o = i * cols;
            for (int j = 0; j < cols; j++) {
                sums[j] += (double) d[o + j] * x[o + j];
                d[o + j] *= colScale[j];
            }
        }
        for (int j = 0; j < cols; j++) {
            colGrad[j] += (float) (sums[j] * factor);
        }
    }

    /** See {@link dev.dynalora.kernels.Kernels#gateForward}. Units are spread over the threads. */
    public static void gateForward(Kernels k, float[] gate, float[] normed, float[] rms, int[] counts, float[] x,
                                   int[] attentionMask, int units, int unitRows, int in, float[] w, float bias,
                                   float[] centre, float eps) {
        k.parallelFor(units, (from, to) -> {
            for (int e = from; e < to; e++) {
                gateUnit(gate, normed, rms, counts, x, attentionMask, unitRows, in, w, bias, centre, eps, e);
            }
        });
    }

    private static void gateUnit(float[] gate, float[] normed, float[] rms, int[] counts, float[] x, int[] am,
                                 int t, int in, float[] w, float bias, float[] centre, float eps, int e) {
        int off = e * in;
        Arrays.fill(normed, off, off + in, 0f);
        int c = 0;
        for (int s = 0; s < t; s++) {
            if (am[e * t + s] == 0) {
                continue;
            }
            c++;
            addRow(normed, off, x, (e * t + s) * in, in);
        }
        counts[e] = c;
        double ss = 0;
        float invC = c == 0 ? 0f : 1f / c;
        boolean centred = centre != null && c > 0;
        for (int j = 0; j < in; j++) {
            normed[off + j] = centred ? normed[off + j] * invC - centre[j] : normed[off + j] * invC;
            ss += (double) normed[off + j] * normed[off + j];
        }
        float r = (float) Math.sqrt(ss / in + eps);
        rms[e] = r;
        double z = bias;
        for (int j = 0; j < in; j++) {
            normed[off + j] /= r;
            z += (double) w[j] * normed[off + j];
        }
        gate[e] = (float) (2.0 / (1.0 + Math.exp(-z)));
    }

    /**
     * See {@link dev.dynalora.kernels.Kernels#gateBackward}. The gate's own gradients are summed over units in
     * order on this thread (a fixed order, whatever the thread count); the input gradient of each unit touches
     * only that unit's rows, so units are spread over the threads.
     */
    public static void gateBackward(Kernels k, float[] dx, float[] dw, float[] db, float[] dGate, float[] gate,
                                    float[] normed, float[] rms, int[] counts, float[] w, int[] attentionMask,
                                    int units, int unitRows, int in) {
        float[] dz = new float[units];
        for (int e = 0; e < units; e++) {
            float sig = gate[e] / 2f;
            dz[e] = dGate[e] * 2f * sig * (1f - sig);
            db[0] += dz[e];
            int off = e * in;
            for (int j = 0; j < in; j++) {
                dw[j] += dz[e] * normed[off + j];
            }
        }
        if (dx == null) {
            return;
        }
        k.parallelFor(units, (from, to) -> {
            float[] dn = new float[in];
            for (int e = from; e < to; e++) {
                gateInputGradient(dz[e], dn, dx, normed, rms, counts, w, attentionMask, unitRows, in, e);
            }
        });
    }

    /** dx of unit e's real rows += d(mean)/dx: rmsnorm backward, dm = (dn - n * mean(dn * n)) / rms, over the count. */
    private static void gateInputGradient(float dze, float[] dn, float[] dx, float[] normed, float[] rms, int[] counts,
                                          float[] w, int[] am, int t, int in, int e) {
        if (counts[e] == 0) {
            return;
        }
        int off = e * in;
        double dot = 0;
        for (int j = 0; j < in; j++) {
            dn[j] = dze * w[j];
            dot += (double) dn[j] * normed[off + j];
        }
        float meanDot = (float) (dot / in);
        float inv = 1f / (rms[e] * counts[e]);
        for (int j = 0; j < in; j++) {
            dn[j] = (dn[j] - normed[off + j] * meanDot) * inv;
        }
        for (int s = 0; s < t; s++) {
            if (am[e * t + s] == 0) {
                continue;
            }
            addRow(dx, (e * t + s) * in, dn, 0, in);
        }
    }

    /**
     * dst[d..d+n) += src[s..s+n), in vector lanes: the gate's two passes over all tokens (the mean in forward,
     * the input gradient in backward) are most of its cost. Each element is one float add, as in a scalar loop,
     * so the results do not depend on the vector width.
     */
    private static void addRow(float[] dst, int d, float[] src, int s, int n) {
        int j = 0;
        for (int bound = V.loopBound(n); j < bound; j += V.length()) {
            FloatVector.fromArray(V, dst, d + j).add(FloatVector.fromArray(V, src, s + j)).intoArray(dst, d + j);
        }
        for (; j < n; j++) {
            dst[d + j] += src[s + j];
        }
    }
}
