package dev.dynalora.adapters;

import dev.dynalora.kernels.Kernels;
import dev.dynalora.tensor.Param;
import dev.dynalora.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A LoRA adapter on one linear layer, as PEFT defines it: y += s * B (A x), s = alpha / r (alpha / sqrt(r)
 * with rsLoRA), A [r, in] Kaiming-uniform, B [out, r] zero.
 *
 * <p>Two optional extensions serve Dynamic LoRA (see docs/dynamic-lora.md) and cost nothing when off:
 * a mask over the r rank components (a masked component contributes nothing and gets no gradient) and a
 * per-example input gate g(x) = 2 sigmoid(w . rmsnorm(mean(x)) + b), where mean(x) averages the example's
 * real (non-padding) tokens; with w = 0, b = 0 the gate is exactly 1. With no mask and no gate the arithmetic
 * is exactly plain LoRA's. {@link #setGatePerToken} switches to a gate per token, g(x_t) = 2 sigmoid(w .
 * rmsnorm(x_t) + b) (0 in place of x_t for padding tokens). {@link #setGateCentre} centres the gate's input:
 * rmsnorm(mean(x) - c), with c measured by {@link #startGateCentreCalibration} / {@link #finishGateCentreCalibration}.
 *
 * <p>With an {@link AdapterDropout} of p &gt; 0, training computes y += s g(x) B A drop(x) (PEFT's lora_dropout).
 * The gate averages the undropped x: it summarises the example, and a mask drawn per element would only add noise
 * to that summary.
 */
public final class LoraAdapter implements LinearAdapter {
    static final float RMS_EPS = 1e-6f;

    private final String name;
    private final int in;
    private final int out;
    private final int rank;
    private final float scaling;
    private final Param a;
    private final Param b;
    private final float[] mask;   // null: all components active (plain LoRA)
    private final Param gateW;    // null: no gate
    private final Param gateB;
    private final AdapterDropout dropout;
    private boolean perToken;     // gate per token instead of per example
    private float[] gateCentre;   // [in] subtracted from the gate's mean before its rmsnorm; null: uncentred
    private double[] centreSum;   // while calibrating: the sum of the units' means; null otherwise
    private long centreUnits;     // while calibrating: how many units (with real tokens) were summed

    // Saved from the last forward, allocated once per shape.
    private float[] u;        // [rows, r]: A x, masked
    private float[] us;       // [rows, r]: s * g * (A x) masked, the input of B
    private float[] du;       // [rows, r] scratch
    // Gate units: examples, or tokens with a per-token gate.
    private float[] gate;     // [units]
    private float[] normed;   // [units, in]: rmsnorm(mean of the unit's real tokens)
    private float[] rms;      // [units]
    private int[] counts;     // [units] real tokens per unit
    private float[] realGates; // per-token gate: the gates of the real tokens, in order (for statistics)
    private int gateCount;    // entries of lastGates() from the last forward: the buffers are reused
    private long extraNanos;  // time in work plain LoRA does not do (gate, mask compaction), see extraWorkNanos()

    // Active-component compaction (see compact(Kernels)): the products of the last forward ran over ra components.
    private final int[] active;   // indices of the active components, in order; null without a mask
    private int ra;               // components in the last forward's products (rank when not compacted)
    private boolean compacted;    // whether the last forward used the compact copies below
    private float[] aC;           // [ra, in]: the active rows of A
    private float[] bC;           // [out, ra]: the active columns of B
    private float[] aGradC;       // [ra, in] scratch for dA of the active rows
    private float[] bGradC;       // [out, ra] scratch for dB of the active columns

    public LoraAdapter(String name, int in, int out, int rank, float alpha, boolean rsLora,
                       boolean componentMask, boolean gated, long seed) {
        this(name, in, out, rank, alpha, rsLora, componentMask, gated, seed, AdapterDropout.NONE);
    }

    /** As the constructor above, with dropout on the adapter input while training. */
    public LoraAdapter(String name, int in, int out, int rank, float alpha, boolean rsLora,
                       boolean componentMask, boolean gated, long seed, AdapterDropout dropout) {
        if (rank <= 0) {
            throw new IllegalArgumentException("LoRA rank must be positive, got " + rank);
        }
        this.name = name;
        this.in = in;
        this.out = out;
        this.rank = rank;
        this.scaling = rsLora ? (float) (alpha / Math.sqrt(rank)) : alpha / rank;
        this.a = new Param(name + ".lora_A.weight", Tensor.zeros(rank, in), true);
        this.b = new Param(name + ".lora_B.weight", Tensor.zeros(out, rank), true);
        kaimingUniform(a.data(), in, new SplittableRandom(seed));
        this.mask = componentMask ? filled(rank, 1f) : null;
        this.active = componentMask ? new int[rank] : null;
        this.gateW = gated ? new Param(name + ".lora_gate.weight", Tensor.zeros(in), true) : null;
        this.gateB = gated ? new Param(name + ".lora_gate.bias", Tensor.zeros(1), true) : null;
        this.dropout = dropout;
    }

    /**
     * An adapter with given weights and scaling, as read back from an adapter file (PEFT format). The scaling is
     * taken as given, not recomputed from alpha and r: a pruned export stores rank r' with an alpha' chosen for
     * s, and alpha' / r' in float need not round back to s, while a loaded adapter must compute bit for bit what
     * the saved one did. A [rank, in] and B [out, rank] are copied (rank = loraA.length / in); no component
     * mask; with {@code gated} the gate starts at w = 0, b = 0 (g = 1) for the caller to fill in.
     */
    public LoraAdapter(String name, int in, int out, float scaling, float[] loraA, float[] loraB, boolean gated) {
        if (in <= 0 || out <= 0 || loraA.length == 0 || loraA.length % in != 0 || loraB.length != out * (loraA.length / in)) {
            throw new IllegalArgumentException("LoRA weights of " + name + ": A has " + loraA.length + " values and B "
                    + loraB.length + ", which do not fit in = " + in + ", out = " + out);
        }
        this.name = name;
        this.in = in;
        this.out = out;
        this.rank = loraA.length / in;
        this.scaling = scaling;
        this.a = new Param(name + ".lora_A.weight", new Tensor(new int[] {rank, in}, loraA.clone()), true);
        this.b = new Param(name + ".lora_B.weight", new Tensor(new int[] {out, rank}, loraB.clone()), true);
        this.mask = null;
        this.active = null;
        this.gateW = gated ? new Param(name + ".lora_gate.weight", Tensor.zeros(in), true) : null;
        this.gateB = gated ? new Param(name + ".lora_gate.bias", Tensor.zeros(1), true) : null;
        this.dropout = AdapterDropout.NONE;
    }

    /**
     * torch.nn.init.kaiming_uniform_(A, a=sqrt(5)), what PEFT uses for lora_A: bound = gain * sqrt(3 / fan_in)
     * with gain = sqrt(2 / (1 + 5)), i.e. bound = 1 / sqrt(fan_in).
     */
    static void kaimingUniform(float[] w, int fanIn, SplittableRandom rng) {
        double bound = 1.0 / Math.sqrt(fanIn);
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
        }
    }

    private static float[] filled(int n, float v) {
        float[] x = new float[n];
        Arrays.fill(x, v);
        return x;
    }

    public String name() {
        return name;
    }

    /** Input features of the module. */
    public int in() {
        return in;
    }

    public int rank() {
        return rank;
    }

    public float scaling() {
        return scaling;
    }

    public Param loraA() {
        return a;
    }

    public Param loraB() {
        return b;
    }

    /** The component mask (1 active, 0 pruned), or null when this adapter has none. Mutable by allocators. */
    public float[] componentMask() {
        return mask;
    }

    /** The dropout on this adapter's input ({@link AdapterDropout#NONE} without). */
    public AdapterDropout dropout() {
        return dropout;
    }

    public boolean gated() {
        return gateW != null;
    }

    public Param gateWeight() {
        return gateW;
    }

    public Param gateBias() {
        return gateB;
    }

    /**
     * Makes the gate one per token: g(x_t) = 2 sigmoid(w . rmsnorm(x_t) + b), padding tokens gated by
     * 2 sigmoid(b) (their rows reach no loss). Call before the first forward pass; needs a gate.
     */
    public void setGatePerToken(boolean perToken) {
        if (perToken && gateW == null) {
            throw new IllegalStateException("adapter " + name + " has no gate to make per-token");
        }
        this.perToken = perToken;
    }

    public boolean gatePerToken() {
        return perToken;
    }

    /**
     * The gate's centre c [in]: with one, the gate reads rmsnorm(mean(x) - c) instead of rmsnorm(mean(x)), so
     * that its weights see what differs between examples rather than the direction all of them share (the
     * hidden states of a transformer share a large common component, which made the uncentred gate nearly
     * constant; docs/dynamic-lora.md, "Centred gate"). Null when the gate is not centred.
     */
    public float[] gateCentre() {
        return gateCentre;
    }

    /** Sets (a copy of) the gate's centre, or removes it with null. Needs a gate. */
    public void setGateCentre(float[] centre) {
        if (centre != null) {
            if (gateW == null) {
                throw new IllegalStateException("adapter " + name + " has no gate to centre");
            }
            if (centre.length != in) {
                throw new IllegalArgumentException("adapter " + name + ": gate centre of " + centre.length
                        + " values, the module's input has " + in);
            }
        }
        this.gateCentre = centre == null ? null : centre.clone();
    }

    /**
     * Starts measuring the gate's centre: until {@link #finishGateCentreCalibration}, every forward pass adds
     * the means its gate units read (uncentred) to a sum. Needs a gate.
     */
    public void startGateCentreCalibration() {
        if (gateW == null) {
            throw new IllegalStateException("adapter " + name + " has no gate to centre");
        }
        gateCentre = null;
        centreSum = new double[in];
        centreUnits = 0;
    }

    /**
     * Ends the measurement: the centre becomes the mean, over the units seen, of their means (in double,
     * rounded to float); no unit seen leaves the gate uncentred. Returns the centre (null in that case).
     */
    public float[] finishGateCentreCalibration() {
        if (centreSum == null) {
            throw new IllegalStateException("adapter " + name + " is not calibrating its gate's centre");
        }
        float[] c = null;
        if (centreUnits > 0) {
            c = new float[in];
            for (int j = 0; j < in; j++) {
                c[j] = (float) (centreSum[j] / centreUnits);
            }
        }
        centreSum = null;
        gateCentre = c;
        return c;
    }

    /**
     * Gate values of the last forward pass (null without a gate): one per example, or with a per-token gate
     * one per real (non-padding) token, in order.
     */
    public float[] lastGates() {
        return perToken ? realGates : gate;
    }

    /**
     * How many entries of {@link #lastGates()} belong to the last forward pass: the buffer is reused across
     * batches and keeps the length of the largest batch seen, so statistics must stop here.
     */
    public int lastGateCount() {
        return gateCount;
    }

    @Override
    public List<Param> params() {
        List<Param> p = new ArrayList<>(List.of(a, b));
        if (gateW != null) {
            p.add(gateW);
            p.add(gateB);
        }
        return p;
    }

    private void ensure(int rows, int batch) {
        if (u == null || u.length < rows * rank) {
            u = new float[rows * rank];
            us = new float[rows * rank];
            du = new float[rows * rank];
        }
        int units = perToken ? rows : batch;
        if (gateW != null && (gate == null || gate.length < units)) {
            gate = new float[units];
            normed = new float[units * in];
            rms = new float[units];
            counts = new int[units];
        }
        if (perToken && (realGates == null || realGates.length < units)) {
            realGates = new float[units];
        }
    }

    /**
     * Chooses the components the products run over. A masked component contributes exactly nothing and gets
     * no gradient, so instead of multiplying it by zero (which made Dynamic LoRA, whose modules hold r_max
     * components of which about half are active, pay for r_max in every adapter product) the forward and
     * backward products run over copies of the active rows of A and columns of B only, and the gradients are
     * scattered back. The copies cost (in + out) x ra floats per step, nothing beside the products' rows x
     * (in + out) x ra. With every component active (or no mask) the original arrays are used as they are, so
     * the arithmetic is plain LoRA's. Dropping zero terms from a sum does not change it, so the compact
     * products equal the masked ones.
     */
    private void compact(Kernels k) {
        compacted = false;
        ra = rank;
        if (mask == null) {
            return;
        }
        int n = 0;
        for (int j = 0; j < rank; j++) {
            if (mask[j] != 0f) {
                active[n++] = j;
            }
        }
        if (n == rank) {
            return;
        }
        compacted = true;
        ra = n;
        if (aC == null) {
            aC = new float[rank * in];
            bC = new float[out * rank];
            aGradC = new float[rank * in];
            bGradC = new float[out * rank];
        }
        float[] av = a.data();
        float[] bv = b.data();
        k.gatherRows(aC, av, in, active, n);
        k.gatherColumns(bC, bv, out, rank, active, n);
    }

    /**
     * Wall time this adapter has spent, since it was built, in the work that plain LoRA does not do: computing
     * the gate and its gradients, and copying active components in and gradients out (mask compaction). It is
     * the direct measure of Dynamic LoRA's added cost that `bench step` reports beside the step time (the
     * step-to-step noise of this machine hides a difference of 1% between separately timed steps). Zero for an
     * adapter with neither a gate nor a mask.
     */
    public long extraWorkNanos() {
        return extraNanos;
    }

    @Override
    public void forward(Kernels k, float[] x, float[] y, TokenBatch batch) {
        int rows = batch.rows();
        ensure(rows, batch.batch());
        long t0 = mask != null || gateW != null ? System.nanoTime() : 0;
        compact(k);
        if (gateW != null) {
            computeGates(k, x, batch);
        }
        if (t0 != 0) {
            extraNanos += System.nanoTime() - t0;
        }
        if (ra == 0) {
            return; // no active component: the adapter adds nothing
        }
        float[] av = compacted ? aC : a.data();
        float[] bv = compacted ? bC : b.data();
        // u = drop(x) A^T  ([rows, in] x [in, ra]); x A^T without dropout
        dropout.project(k, x, av, u, rows, ra, in, batch);
        // us = s * g * u, row by row (g = 1 without a gate)
        k.scaleRows(us, u, rows, ra, scaling, gateW != null ? gate : null, unitLength(batch));
        // y += us B^T ([rows, ra] x [ra, out])
        k.sgemm(false, true, rows, out, ra, 1f, us, 0, ra, bv, 0, ra, 1f, y, 0, out);
    }

    /**
     * gate[e] = 2 sigmoid(w . rmsnorm(mean of example e's real tokens) + b). Examples are independent, so they
     * are spread over the threads (each example's arithmetic is the same whatever the split).
     */
    private void computeGates(Kernels k, float[] x, TokenBatch batch) {
        int units = perToken ? batch.rows() : batch.batch();
        k.gateForward(gate, normed, rms, counts, x, batch.attentionMask(), units, unitLength(batch), in,
                gateW.data(), gateB.data()[0], gateCentre, RMS_EPS);
        if (centreSum != null) {
            // Calibrating (gateCentre is null): each unit's mean is normed * rms, as the kernel computed it.
            for (int e = 0; e < units; e++) {
                if (counts[e] == 0) {
                    continue;
                }
                for (int j = 0; j < in; j++) {
                    centreSum[j] += (double) normed[e * in + j] * rms[e];
                }
                centreUnits++;
            }
        }
        if (perToken) {
            int[] am = batch.attentionMask();
            int n = 0;
            for (int i = 0; i < units; i++) {
                if (am[i] != 0) {
                    realGates[n++] = gate[i];
                }
            }
            gateCount = n;
        } else {
            gateCount = units;
        }
    }

    /** The rows of gate unit e: an example's tokens, or one token. */
    private int unitLength(TokenBatch batch) {
        return perToken ? 1 : batch.seqLen();
    }

    @Override
    public void backward(Kernels k, float[] x, float[] dy, float[] dx, TokenBatch batch) {
        int rows = batch.rows();
        int t = perToken ? 1 : batch.seqLen();
        float[] dGate = gateW != null ? new float[perToken ? rows : batch.batch()] : null;
        if (ra > 0) {
            float[] av = compacted ? aC : a.data();
            float[] bv = compacted ? bC : b.data();
            float[] aGrad = compacted ? aGradC : a.grad();
            float[] bGrad = compacted ? bGradC : b.grad();
            if (compacted) {
                long t0 = System.nanoTime();
                Arrays.fill(aGradC, 0, ra * in, 0f);
                Arrays.fill(bGradC, 0, out * ra, 0f);
                extraNanos += System.nanoTime() - t0;
            }
            // dUs = dy B   ([rows, out] x [out, ra])
            k.sgemm(false, false, rows, ra, out, 1f, dy, 0, out, bv, 0, ra, 0f, du, 0, ra);
            // dB += dy^T us   ([out, rows] x [rows, ra])
            k.sgemm(true, false, out, ra, rows, 1f, dy, 0, out, us, 0, ra, 1f, bGrad, 0, ra);
            if (gateW != null) {
                long t0 = System.nanoTime();
                // dGate[unit] += s * sum_j dUs u over the unit's rows
                k.rowDotsAccumulate(dGate, du, u, rows, ra, scaling, t);
                extraNanos += System.nanoTime() - t0;
            }
            // dU = dUs * s * g
            k.scaleRows(du, du, rows, ra, scaling, gateW != null ? gate : null, t);
            // dA += dU^T drop(x)   ([ra, rows] x [rows, in])
            dropout.weightGradient(k, du, x, aGrad, rows, ra, in, batch);
            if (dx != null) {
                // dx += dU A through the dropout mask   ([rows, ra] x [ra, in])
                dropout.inputGradient(k, du, av, dx, rows, ra, in, batch);
            }
            if (compacted) {
                long t0 = System.nanoTime();
                scatterGradients(k);
                extraNanos += System.nanoTime() - t0;
            }
        }
        if (gateW != null) {
            long t0 = System.nanoTime();
            gateBackward(k, x, dGate, dx, batch);
            extraNanos += System.nanoTime() - t0;
        }
    }

    /** Adds the compact gradients into the active rows of dA and columns of dB. */
    private void scatterGradients(Kernels k) {
        float[] ag = a.grad();
        float[] bg = b.grad();
        for (int c = 0; c < ra; c++) {
            k.accumulate(ag, active[c] * in, aGradC, c * in, in);
        }
        k.scatterAddColumns(bg, rank, bGradC, out, active, ra);
    }

    /**
     * Back through g = 2 sigmoid(z), z = w . n + b, n = m / rms(m), m = mean of real tokens
     * ({@link Kernels#gateBackward}): the gate's own gradients, and the input gradient through the mean.
     */
    private void gateBackward(Kernels k, float[] x, float[] dGate, float[] dx, TokenBatch batch) {
        k.gateBackward(dx, gateW.grad(), gateB.grad(), dGate, gate, normed, rms, counts, gateW.data(),
                batch.attentionMask(), dGate.length, unitLength(batch), in);
    }

    @Override
    public void mergeInto(float[] weight) {
        addDelta(weight, 1f);
    }

    /** Removes a previous merge from W (unmerge). */
    public void unmergeFrom(float[] weight) {
        addDelta(weight, -1f);
    }

    private void addDelta(float[] weight, float sign) {
        if (gateW != null) {
            throw new UnsupportedOperationException("adapter " + name + " has an input gate: g(x) depends on each"
                    + " example, so it cannot be merged exactly into a fixed weight");
        }
        float[] av = a.data();
        float[] bv = b.data();
        // W[o, i] += sign * s * sum_j B[o, j] mask[j] A[j, i]
        for (int o = 0; o < out; o++) {
            for (int j = 0; j < rank; j++) {
                float f = sign * scaling * bv[o * rank + j] * (mask == null ? 1f : mask[j]);
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
