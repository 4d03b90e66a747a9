package dev.dynalora.training;

import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.tensor.Param;

import java.util.ArrayList;
import java.util.List;

/**
 * AdamW with decoupled weight decay (Loshchilov and Hutter), as torch.optim.AdamW computes it:
 * p -= lr * wd * p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).
 * Only trainable parameters are touched; parameters named in {@code noDecay} (biases, LayerNorm) skip decay,
 * as the Hugging Face Trainer does. A parameter may get its own fraction of the learning rate
 * ({@link #scaleLearningRate}), like a torch parameter group with its own lr: Dynamic LoRA's gates use it.
 * The update of each tensor is {@link Kernels#adamwUpdate}; this class holds the moments and the schedule of
 * bias corrections.
 */
public final class AdamW {
    private final List<Param> params;
    private final List<float[]> m = new ArrayList<>();
    private final List<float[]> v = new ArrayList<>();
    private final boolean[] decay;
    private final float[] lrScale;
    private final float beta1;
    private final float beta2;
    private final float eps;
    private final float weightDecay;
    private long step;

    public AdamW(List<Param> params, float beta1, float beta2, float eps, float weightDecay) {
        this.params = List.copyOf(params);
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        this.decay = new boolean[this.params.size()];
        this.lrScale = new float[this.params.size()];
        java.util.Arrays.fill(lrScale, 1f);
        for (int i = 0; i < this.params.size(); i++) {
            Param p = this.params.get(i);
            if (!p.trainable()) {
                throw new IllegalArgumentException("AdamW given a frozen parameter: " + p.name());
            }
            m.add(new float[p.value().size()]);
            v.add(new float[p.value().size()]);
            decay[i] = decays(p.name());
        }
    }

    public AdamW(List<Param> params, float weightDecay) {
        this(params, 0.9f, 0.999f, 1e-8f, weightDecay);
    }

    /**
     * Gives the parameters that {@code which} selects the learning rate {@code ratio * lr} (their weight decay
     * scales with it, as in a torch parameter group with its own lr). Returns how many parameters it selected.
     */
    public int scaleLearningRate(java.util.function.Predicate<Param> which, double ratio) {
        if (!(ratio >= 0) || Double.isInfinite(ratio)) {
            throw new IllegalArgumentException("learning-rate ratio must be finite and >= 0, got " + ratio);
        }
        int n = 0;
        for (int i = 0; i < params.size(); i++) {
            if (which.test(params.get(i))) {
                lrScale[i] = (float) ratio;
                n++;
            }
        }
        return n;
    }

    /** Hugging Face's convention: no decay for biases and LayerNorm weights. */
    static boolean decays(String name) {
        String n = name.toLowerCase(java.util.Locale.ROOT);
        return !(n.endsWith("bias") || n.contains("layernorm") || n.contains("layer_norm"));
    }

    /** One update with learning rate lr from the gradients currently held by the parameters. */
    public void step(Kernels k, float lr) {
        step++;
        double bc1 = 1 - Math.pow(beta1, step);
        double bc2 = 1 - Math.pow(beta2, step);
        float invSqrtBc2 = (float) (1 / Math.sqrt(bc2));
        for (int i = 0; i < params.size(); i++) {
            Param p = params.get(i);
            // lrScale is 1 unless set: lr * 1f is lr exactly, so unscaled parameters update bit for bit as before.
            float lrI = lr * lrScale[i];
            float stepSize = (float) (lrI / bc1);
            float[] w = p.data();
            float shrink = decay[i] ? 1f - lrI * weightDecay : 1f;
            k.adamwUpdate(w, p.grad(), m.get(i), v.get(i), w.length, beta1, beta2, eps, shrink, stepSize, invSqrtBc2);
        }
    }

    /** As {@link #step(Kernels, float)} on {@link CpuKernels#serial()}. */
    public void step(float lr) {
        step(CpuKernels.serial(), lr);
    }

    public long stepCount() {
        return step;
    }

    public List<Param> params() {
        return params;
    }

    /** First and second moments, in parameter order (for checkpoints). */
    public List<float[]> firstMoments() {
        return m;
    }

    public List<float[]> secondMoments() {
        return v;
    }

    public void restore(long stepCount, List<float[]> first, List<float[]> second) {
        if (first.size() != m.size() || second.size() != v.size()) {
            throw new IllegalArgumentException("optimizer state has " + first.size() + " tensors, expected " + m.size());
        }
        for (int i = 0; i < m.size(); i++) {
            System.arraycopy(first.get(i), 0, m.get(i), 0, m.get(i).length);
            System.arraycopy(second.get(i), 0, v.get(i), 0, v.get(i).length);
        }
        this.step = stepCount;
    }
}
