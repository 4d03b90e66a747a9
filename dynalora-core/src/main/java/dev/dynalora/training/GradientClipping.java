package dev.dynalora.training;

import dev.dynalora.tensor.Param;

import java.util.List;

/** Global L2-norm gradient clipping, as torch.nn.utils.clip_grad_norm_. */
public final class GradientClipping {
    private GradientClipping() {
    }

    /** The global L2 norm of all trainable gradients (accumulated in double, in a fixed order). */
    public static double globalNorm(List<Param> params) {
        double s = 0;
        for (Param p : params) {
            float[] g = p.grad();
            if (g == null) {
                continue;
            }
            for (float x : g) {
                s += (double) x * x;
            }
        }
        return Math.sqrt(s);
    }

    /** Scales gradients so their global norm is at most maxNorm; returns the norm before clipping. */
    public static double clip(List<Param> params, double maxNorm) {
        double norm = globalNorm(params);
        if (maxNorm > 0 && norm > maxNorm && Double.isFinite(norm)) {
            float scale = (float) (maxNorm / (norm + 1e-6));
            for (Param p : params) {
                float[] g = p.grad();
                if (g == null) {
                    continue;
                }
                for (int i = 0; i < g.length; i++) {
                    g[i] *= scale;
                }
            }
        }
        return norm;
    }
}
