package dev.dynalora.adapters;

import dev.dynalora.kernels.Kernels;
import dev.dynalora.tensor.Param;
import dev.dynalora.tensor.Tensor;

import java.util.List;
import java.util.SplittableRandom;

/**
 * AdaLoRA's SVD-form adapter, as PEFT's SVDLinear (peft/tuners/adalora/layer.py) computes it:
 * y += (x (A * E)^T B^T) * scaling / (ranknum + 1e-5), with lora_A [r, in] (right singular vectors),
 * lora_E [r, 1] (singular values), lora_B [out, r] (left singular vectors), scaling = lora_alpha (r when
 * alpha <= 0) and ranknum = the initial rank r, which PEFT never changes during training. Initialisation as
 * PEFT's reset_lora_parameters: A, B normal(0, 0.02), E zero (so the adapter starts as the identity map).
 * Pruning a triplet sets its E to zero ({@link AdaLoraAllocator}); A and B keep training through the
 * orthogonal regulariser. With an {@link AdapterDropout} of p &gt; 0, training feeds drop(x) instead of x to
 * A, as SVDLinear.forward does with lora_dropout.
 */
public final class AdaLoraAdapter implements LinearAdapter {
    /** PEFT's ranknum + 1e-5 guard against a zero rank. */
    public static final float RANKNUM_EPS = 1e-5f;
    static final double INIT_STD = 0.02;

    private final String name;
    private final int in;
    private final int out;
    private final int rank;
    private final float scaling;
    private final float factor;   // scaling / (ranknum + 1e-5)
    private final Param a;
    private final Param e;
    private final Param b;
    private final AdapterDropout dropout;

    private float[] u;    // [rows, r]: drop(x) A^T (x A^T without dropout)
    private float[] ue;   // [rows, r]: u * E * factor, the input of B
    private float[] du;   // [rows, r] scratch
    private float[] ev;   // [r]: E * factor of the last forward

    public AdaLoraAdapter(String name, int in, int out, int rank, float alpha, long seed) {
        this(name, in, out, rank, alpha, seed, AdapterDropout.NONE);
    }

    /** As the constructor above, with dropout on the adapter input while training. */
    public AdaLoraAdapter(String name, int in, int out, int rank, float alpha, long seed, AdapterDropout dropout) {
        if (rank <= 0) {
            throw new IllegalArgumentException("AdaLoRA initial rank must be positive, got " + rank);
        }
        this.name = name;
        this.in = in;
        this.out = out;
        this.rank = rank;
        this.scaling = alpha > 0 ? alpha : rank;
        this.factor = scaling / ((float) rank + RANKNUM_EPS);
        // PEFT keeps these in ParameterDicts, so its keys have no ".weight" suffix: X.lora_A, X.lora_E, X.lora_B.
        this.a = new Param(name + ".lora_A", Tensor.zeros(rank, in), true);
        this.e = new Param(name + ".lora_E", Tensor.zeros(rank, 1), true);
        this.b = new Param(name + ".lora_B", Tensor.zeros(out, rank), true);
        SplittableRandom rng = new SplittableRandom(seed);
        normal(a.data(), rng);
        normal(b.data(), rng);
        this.ev = new float[rank];
        this.dropout = dropout;
    }

    /**
     * An adapter with given weights, as read back from an adapter file: rank = ranknum = init_r, A [rank, in],
     * E [rank] and B [out, rank] copied. A pruned triplet is one whose E is zero.
     */
    public AdaLoraAdapter(String name, int in, int out, float alpha, float[] loraA, float[] loraE, float[] loraB) {
        this(name, in, out, checkedRank(name, in, out, loraA, loraE, loraB), alpha, 0L, AdapterDropout.NONE);
        System.arraycopy(loraA, 0, a.data(), 0, loraA.length);
        System.arraycopy(loraE, 0, e.data(), 0, loraE.length);
        System.arraycopy(loraB, 0, b.data(), 0, loraB.length);
    }

    private static int checkedRank(String name, int in, int out, float[] loraA, float[] loraE, float[] loraB) {
        int r = loraE.length;
        if (r == 0 || loraA.length != r * in || loraB.length != out * r) {
            throw new IllegalArgumentException("AdaLoRA weights of " + name + ": A has " + loraA.length + " values, E "
                    + r + " and B " + loraB.length + ", which do not fit in = " + in + ", out = " + out);
        }
        return r;
    }

    private static void normal(float[] w, SplittableRandom rng) {
        for (int i = 0; i < w.length; i++) {
            double u1 = rng.nextDouble();
            double u2 = rng.nextDouble();
            w[i] = (float) (Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2) * INIT_STD);
        }
    }

    public String name() {
        return name;
    }

    public int rank() {
        return rank;
    }

    public int in() {
        return in;
    }

    public int out() {
        return out;
    }

    /** lora_alpha (or r when alpha <= 0), before the division by ranknum. */
    public float scaling() {
        return scaling;
    }

    /** The factor applied to B (A * E) x: scaling / (ranknum + 1e-5). */
    public float factor() {
        return factor;
    }

    public Param loraA() {
        return a;
    }

    public Param loraE() {
        return e;
    }

    public Param loraB() {
        return b;
    }

    /** The dropout on this adapter's input ({@link AdapterDropout#NONE} without). */
    public AdapterDropout dropout() {
        return dropout;
    }

    @Override
    public List<Param> params() {
        return List.of(a, e, b);
    }

    @Override
    public void forward(Kernels k, float[] x, float[] y, TokenBatch batch) {
        int rows = batch.rows();
        if (u == null || u.length < rows * rank) {
            u = new float[rows * rank];
            ue = new float[rows * rank];
            du = new float[rows * rank];
        }
        // ev = E * factor
        k.scale(ev, 0, e.data(), 0, rank, factor);
        // u = drop(x) A^T   ([rows, in] x [in, r]); x A^T without dropout
        dropout.project(k, x, a.data(), u, rows, rank, in, batch);
        // ue = u * ev, column by column
        k.scaleColumns(ue, u, rows, rank, ev);
        // y += ue B^T   ([rows, r] x [r, out])
        k.sgemm(false, true, rows, out, rank, 1f, ue, 0, rank, b.data(), 0, rank, 1f, y, 0, out);
    }

    @Override
    public void backward(Kernels k, float[] x, float[] dy, float[] dx, TokenBatch batch) {
        int rows = batch.rows();
        // dUe = dy B   ([rows, out] x [out, r])
        k.sgemm(false, false, rows, rank, out, 1f, dy, 0, out, b.data(), 0, rank, 0f, du, 0, rank);
        // dB += dy^T ue   ([out, rows] x [rows, r])
        k.sgemm(true, false, out, rank, rows, 1f, dy, 0, out, ue, 0, rank, 1f, b.grad(), 0, rank);
        // dE[j] += factor * sum_rows dUe[., j] u[., j]; then dU = dUe * E * factor.
        k.scaleColumnsBackward(du, u, ev, rows, rank, factor, e.grad());
        // dA += dU^T drop(x)   ([r, rows] x [rows, in])
        dropout.weightGradient(k, du, x, a.grad(), rows, rank, in, batch);
        if (dx != null) {
            // dx += dU A through the dropout mask   ([rows, r] x [r, in])
            dropout.inputGradient(k, du, a.data(), dx, rows, rank, in, batch);
        }
    }

    /** W += B (A * E) * scaling / (ranknum + 1e-5), PEFT's get_delta_weight. */
    @Override
    public void mergeInto(float[] weight) {
        float[] av = a.data();
        float[] bv = b.data();
        float[] ed = e.data();
        for (int o = 0; o < out; o++) {
            for (int j = 0; j < rank; j++) {
                float f = bv[o * rank + j] * ed[j] * factor;
                if (f == 0f) {
                    continue;
                }
                int ao = j * in;
                int wo = o * in;
                for (int i = 0; i < in; i++) {
                    weight[wo + i] += f * av[ao + i];
                }
            }
        }
    }
}
