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

    @ParameterizedTest(name = "in={0}, perToken={1}")
    @CsvSource({"37, false", "37, true", "64, false", "384, false"})
    void gatedOutputMatchesTheFormula(int in, boolean perToken) {
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
            double exampleGate = perToken ? Double.NaN : gate(x, mask, e * seq, seq, in, w, -0.3);
            for (int t = 0; t < seq; t++) {
                int row = e * seq + t;
                double g = perToken ? gate(x, mask, row, 1, in, w, -0.3) : exampleGate;
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
            assertEquals(gate(x, mask, 6, 1, in, w, -0.3), gates[6], 1e-6); // row 6 is the 7th real token
        } else {
            assertEquals(3, ad.lastGateCount());
            assertEquals(gate(x, mask, 10, seq, in, w, -0.3), gates[2], 1e-6);
        }
    }

    /** 2 sigmoid(w . rmsnorm(m) + b), m the mean of the real rows among rows [from, from + n). */
    private static double gate(float[] x, int[] mask, int from, int n, int in, float[] w, double bias) {
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
            m[i] = c == 0 ? 0 : m[i] / c;
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
