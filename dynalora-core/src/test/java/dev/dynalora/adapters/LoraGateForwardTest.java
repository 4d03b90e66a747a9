package dev.dynalora.adapters;

import dev.dynalora.kernels.CpuKernels;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The Dynamic LoRA gate's forward value against the formula of docs/dynamic-lora.md, computed here in double
 * precision without any of LoraAdapter's code: y = s g B (A x), g = 2 sigmoid(w . rmsnorm(mean of the unit's
 * real tokens) + b), the unit being an example (or a token with the per-token gate). The gradient checks test
 * the backward against this forward; this test pins the forward itself (padding excluded from the mean, the
 * rmsnorm, the factor 2), with an input width that is not a multiple of any vector length.
 */
class LoraGateForwardTest {

    @ParameterizedTest(name = "in={0}, perToken={1}, centred={2}")
    @CsvSource({"37, false, false", "37, true, false", "64, false, false", "384, false, false", "37, false, true",
            "37, true, true", "384, false, true"})
    void gatedOutputMatchesTheFormula(int in, boolean perToken, boolean centred) {
        int out = 11;
        int rank = 3;
        int batch = 3;
        int seq = 5;
        int[] mask = {1, 1, 1, 1, 1, /**/ 1, 1, 0, 0, 0, /**/ 1, 0, 0, 0, 0};
        TokenBatch tb = new TokenBatch(batch, seq, mask, false, 1, 0);
        LoraAdapter ad = new LoraAdapter("m", in, out, rank, 6f, false, false, true, 5);
        ad.setGatePerToken(perToken);
        LoraCompactionTest.fill(ad.loraB().data(), 2, 0.5);
        LoraCompactionTest.fill(ad.gateWeight().data(), 3, 0.4);
        ad.gateBias().data()[0] = -0.3f;
        float[] x = new float[batch * seq * in];
        LoraCompactionTest.fill(x, 4, 1.5);
        // A centre of the size of the inputs' spread, so that centring changes every gate.
        float[] centre = null;
        if (centred) {
            centre = new float[in];
            LoraCompactionTest.fill(centre, 6, 1.0);
            ad.setGateCentre(centre);
        }
        float[] y = new float[batch * seq * out];
        CpuKernels k = new CpuKernels(2);
        try {
            ad.forward(k, x, y, tb);
        } finally {
            k.close();
        }

        float[] a = ad.loraA().data();
        float[] b = ad.loraB().data();
        float[] w = ad.gateWeight().data();
        double s = ad.scaling();
        for (int e = 0; e < batch; e++) {
            double exampleGate = perToken ? Double.NaN : gate(x, mask, e * seq, seq, in, w, -0.3, centre);
            for (int t = 0; t < seq; t++) {
                int row = e * seq + t;
                double g = perToken ? gate(x, mask, row, 1, in, w, -0.3, centre) : exampleGate;
                for (int o = 0; o < out; o++) {
                    double v = 0;
                    for (int j = 0; j < rank; j++) {
                        double ax = 0;
                        for (int i = 0; i < in; i++) {
                            ax += (double) a[j * in + i] * x[row * in + i];
                        }
                        v += b[o * rank + j] * ax;
                    }
                    double expected = s * g * v;
                    assertEquals(expected, y[row * out + o], 1e-5 * Math.max(1, Math.abs(expected)),
                            "row " + row + ", output " + o);
                }
            }
        }
        // the gate values the allocator's statistics read: per example, or per real token
        float[] gates = ad.lastGates();
        if (perToken) {
            assertEquals(8, ad.lastGateCount());
            assertEquals(gate(x, mask, 6, 1, in, w, -0.3, centre), gates[6], 1e-6); // row 6 is the 7th real token
        } else {
            assertEquals(3, ad.lastGateCount());
            assertEquals(gate(x, mask, 10, seq, in, w, -0.3, centre), gates[2], 1e-6);
        }
    }

    /**
     * Calibration: the centre is the mean, over the units of the forward passes seen, of each unit's mean of real
     * tokens (units with none skipped), and the passes themselves run uncentred.
     */
    @ParameterizedTest(name = "perToken={0}")
    @CsvSource({"false", "true"})
    void calibrationMeasuresTheMeanOfTheUnitMeans(boolean perToken) {
        int in = 37;
        int seq = 5;
        int[] mask = {1, 1, 1, 1, 1, /**/ 1, 1, 0, 0, 0, /**/ 1, 0, 0, 0, 0};
        LoraAdapter ad = new LoraAdapter("m", in, 4, 2, 6f, false, false, true, 5);
        ad.setGatePerToken(perToken);
        float[] x1 = new float[3 * seq * in];
        float[] x2 = new float[2 * seq * in];
        LoraCompactionTest.fill(x1, 7, 1.5);
        LoraCompactionTest.fill(x2, 8, 1.5);
        CpuKernels k = new CpuKernels(2);
        try {
            ad.startGateCentreCalibration();
            ad.forward(k, x1, new float[3 * seq * 4], new TokenBatch(3, seq, mask, false, 1, 0));
            ad.forward(k, x2, new float[2 * seq * 4], new TokenBatch(2, seq, java.util.Arrays.copyOf(mask, 10), false, 1, 0));
            float[] c = ad.finishGateCentreCalibration();
            double[] expected = new double[in];
            int units = 0;
            int unit = perToken ? 1 : seq;
            for (float[][] pass : new float[][][] {{x1}, {x2}}) {
                float[] x = pass[0];
                int rows = x.length / in;
                for (int from = 0; from < rows; from += unit) {
                    double[] m = new double[in];
                    int n = 0;
                    for (int r = from; r < from + unit; r++) {
                        if (mask[r] == 0) {
                            continue;
                        }
                        n++;
                        for (int i = 0; i < in; i++) {
                            m[i] += x[r * in + i];
                        }
                    }
                    if (n == 0) {
                        continue;
                    }
                    units++;
                    for (int i = 0; i < in; i++) {
                        expected[i] += m[i] / n;
                    }
                }
            }
            assertEquals(perToken ? 8 + 7 : 5, units);
            for (int i = 0; i < in; i++) {
                assertEquals(expected[i] / units, c[i], 1e-5, "feature " + i);
            }
            org.junit.jupiter.api.Assertions.assertArrayEquals(c, ad.gateCentre());
        } finally {
            k.close();
        }
    }

    /** 2 sigmoid(w . rmsnorm(m - centre) + b), m the mean of the real rows among rows [from, from + n). */
    private static double gate(float[] x, int[] mask, int from, int n, int in, float[] w, double bias, float[] centre) {
        double[] m = new double[in];
        int c = 0;
        for (int r = from; r < from + n; r++) {
            if (mask[r] == 0) {
                continue;
            }
            c++;
            for (int i = 0; i < in; i++) {
                m[i] += x[r * in + i];
            }
        }
        double ss = 0;
        for (int i = 0; i < in; i++) {
            m[i] = c == 0 ? 0 : m[i] / c - (centre != null ? centre[i] : 0);
            ss += m[i] * m[i];
        }
        double rms = Math.sqrt(ss / in + 1e-6);
        double z = bias;
        for (int i = 0; i < in; i++) {
            z += w[i] * m[i] / rms;
        }
        return 2 / (1 + Math.exp(-z));
    }
}
