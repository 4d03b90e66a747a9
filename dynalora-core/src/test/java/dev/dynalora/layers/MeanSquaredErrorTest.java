package dev.dynalora.layers;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static dev.dynalora.layers.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

class MeanSquaredErrorTest {

    static double ref(double[] pred, double[] target) {
        double s = 0;
        for (int i = 0; i < pred.length; i++) {
            s += (pred[i] - target[i]) * (pred[i] - target[i]);
        }
        return s / pred.length;
    }

    @Test
    void lossAndGradient() {
        Random rnd = new Random(70);
        int n = 7;
        float[] pred = randn(rnd, n, 2), target = randn(rnd, n, 2);
        assertEquals(ref(toDouble(pred), toDouble(target)), MeanSquaredError.forward(pred, target, n), 1e-6);
        assertEquals(2.5f, MeanSquaredError.forward(new float[]{1, 3}, new float[]{0, 5}, 2)); // (1 + 4) / 2

        float dloss = 1.3f;
        float[] dpred = new float[n];
        MeanSquaredError.backward(dpred, pred, target, n, dloss);
        double[] t = toDouble(target);
        double[] fd = numericGrad(a -> new double[]{ref(a[0], t)}, new double[][]{toDouble(pred)}, 0,
                new float[]{dloss}, 1e-6);
        assertClose("dpred", fd, dpred, 1e-7, 1e-5);

        float[] g0 = randn(rnd, n, 1);
        float[] acc = g0.clone();
        MeanSquaredError.backward(acc, pred, target, n, dloss);
        assertClose("dpred +=", plus(g0, dpred), acc, 1e-6, 1e-6);
        assertDoesNotThrow(() -> MeanSquaredError.backward(null, pred, target, n, 1f));
        assertEquals(0f, MeanSquaredError.forward(new float[0], new float[0], 0));
    }
}
