package dev.dynalora.training;

import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.tensor.Param;

import java.util.List;

/**
 * Global L2-norm gradient clipping, as torch.nn.utils.clip_grad_norm_: the norm is {@link Kernels#sumSquares}
 * over the gradients in parameter order, the scaling {@link Kernels#scale}.
 */
public final class GradientClipping {
    private GradientClipping() {
    }

    /** The global L2 norm of all trainable gradients (accumulated in double, in a fixed order). */
    public static double globalNorm(Kernels k, List<Param> params) {
        double s = 0;
        for (Param p : params) {
            float[] g = p.grad();
            if (g == null) {
                continue;
            }
            s = k.sumSquares(s, g, 0, g.length);
        }
        return Math.sqrt(s);
    }

    /** As {@link #globalNorm(Kernels, List)} on {@link CpuKernels#serial()}. */
    public static double globalNorm(List<Param> params) {
        return globalNorm(CpuKernels.serial(), params);
    }

    /** Scales gradients so their global norm is at most maxNorm; returns the norm before clipping. */
    public static double clip(Kernels k, List<Param> params, double maxNorm) {
        double norm = globalNorm(k, params);
        if (maxNorm > 0 && norm > maxNorm && Double.isFinite(norm)) {
            float scale = (float) (maxNorm / (norm + 1e-6));
            for (Param p : params) {
                float[] g = p.grad();
                if (g == null) {
                    continue;
                }
                k.scale(g, 0, g, 0, g.length, scale);
            }
        }
        return norm;
    }

    /** As {@link #clip(Kernels, List, double)} on {@link CpuKernels#serial()}. */
    public static double clip(List<Param> params, double maxNorm) {
        return clip(CpuKernels.serial(), params, maxNorm);
    }
}
