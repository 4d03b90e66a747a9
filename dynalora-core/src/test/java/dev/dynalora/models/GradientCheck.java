package dev.dynalora.models;

import dev.dynalora.tensor.Param;

import java.util.List;
import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole-model gradient check shared by the model families' tests: the analytic gradient of every tensor,
 * sampled at a few coordinates, against central differences of the float32 loss (eps 1e-2 on weights of
 * scale about 0.2; tolerance |analytic - numeric| <= 2e-3 + 5e-2 |numeric|).
 */
public final class GradientCheck {
    public static final float EPS = 1e-2f;

    private GradientCheck() {
    }

    /**
     * Checks the gradients the params hold (computed by the caller) at {@code perTensor} coordinates of each,
     * chosen by a fixed seed; {@code loss} evaluates the loss at the current weights (it may recompute the
     * gradients: each tensor's are copied before its coordinates are perturbed).
     */
    public static void assertMatchesFiniteDifferences(List<Param> params, int perTensor, DoubleSupplier loss) {
        SplittableRandom r = new SplittableRandom(11);
        int checked = 0;
        StringBuilder failures = new StringBuilder();
        for (Param p : params) {
            float[] g = p.grad().clone();
            float[] w = p.data();
            for (int s = 0; s < perTensor; s++) {
                int i = pickIndex(g, r);
                float orig = w[i];
                w[i] = orig + EPS;
                double lp = loss.getAsDouble();
                w[i] = orig - EPS;
                double lm = loss.getAsDouble();
                w[i] = orig;
                double num = (lp - lm) / (2 * EPS);
                double err = Math.abs(g[i] - num);
                if (err > 2e-3 + 5e-2 * Math.abs(num)) {
                    failures.append(p.name()).append('[').append(i).append("] analytic ").append(g[i])
                            .append(" numeric ").append(num).append('\n');
                }
                checked++;
            }
        }
        assertTrue(checked > 20, "checked only " + checked);
        assertTrue(failures.length() == 0, failures.toString());
    }

    /** Prefer a coordinate with a non-zero gradient (embedding rows of unused tokens have none). */
    public static int pickIndex(float[] g, SplittableRandom r) {
        for (int tries = 0; tries < 50; tries++) {
            int i = r.nextInt(g.length);
            if (g[i] != 0f) {
                return i;
            }
        }
        return r.nextInt(g.length);
    }

    /** Fills x with uniform values in [-scale, scale). */
    public static void randomize(float[] x, SplittableRandom r, double scale) {
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        }
    }
}
