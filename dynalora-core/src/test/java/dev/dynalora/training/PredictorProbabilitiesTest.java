package dev.dynalora.training;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The class probabilities served by /v1/classify and DynaloraSpark.predict: a softmax that does not overflow. */
class PredictorProbabilitiesTest {
    @Test
    void probabilitiesAreTheSoftmaxOfTheLogits() {
        float[] p = Predictor.probabilities(new float[] {1f, 2f, 0.5f});
        double z = Math.exp(1) + Math.exp(2) + Math.exp(0.5);
        assertArrayEquals(new float[] {(float) (Math.exp(1) / z), (float) (Math.exp(2) / z), (float) (Math.exp(0.5) / z)}, p);
    }

    @Test
    void largeLogitsDoNotOverflow() {
        float[] p = Predictor.probabilities(new float[] {1000f, 1000f, -1000f});
        assertArrayEquals(new float[] {0.5f, 0.5f, 0f}, p);
        assertEquals(1f, Predictor.probabilities(new float[] {3e38f})[0]);
    }
}
