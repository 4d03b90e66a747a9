package dev.dynalora.adapters;

import dev.dynalora.kernels.Kernels;
import dev.dynalora.layers.Dropout;

/**
 * PEFT's {@code lora_dropout} for one adapter: y = W x + b + s B A drop(x). Dropout hits the adapter's input
 * only, on the way into A; the base layer, and the Dynamic LoRA gate, read x itself. This class owns the three
 * products that touch the dropped input: u = drop(x) A^T (forward), dA += dU^T drop(x) and
 * dx += drop'(dU A) (backward).
 *
 * <p>Dropout runs only while training ({@link TokenBatch#training()}) and with p &gt; 0. Otherwise the three
 * products are the very kernel calls an adapter without dropout makes, so p = 0 and evaluation keep the exact
 * arithmetic of plain LoRA.
 *
 * <p>Every adapter has its own site number, so modules that read the same x (query, key, value) draw
 * independent masks, as PEFT's separate {@code nn.Dropout} per module does. The mask comes from
 * {@link Dropout}'s counter-based hash of (run seed, step, site, element), so it is the same for any thread
 * count and backward sees the mask forward used.
 *
 * <p>Memory: backward needs drop(x) again for A's gradient. Instead of a copy of x per module, forward records
 * the mask as bits (1/32 of x) and backward rebuilds drop(x) from x and the bits, bit for bit. The rebuilt
 * input and dU A go to a {@link Scratch} that all adapters of a model share, since only one adapter computes
 * at a time: one buffer the size of the largest adapter input, instead of one per module.
 */
public final class AdapterDropout {
    /** No dropout: every product is the plain one. Stateless, so shared. */
    public static final AdapterDropout NONE = new AdapterDropout(0f, 0, null);

    /**
     * Sites per step in the stream number: stream = step * SITES + site. Model sites (embeddings, layers, head)
     * use another seed (see {@link #SEED_SALT}), so the numbers may overlap theirs.
     */
    static final long SITES = 1L << 20;
    /**
     * XORed into the run's dropout seed: adapter masks come from a key space of their own, independent of the
     * hidden-dropout masks whose stream numbers (step * 1024 + site) they would otherwise share.
     */
    static final long SEED_SALT = 0x6C6F72615F64726FL; // "lora_dro"

    /** A buffer shared by the adapters of one model; grown on demand, never shrunk. */
    public static final class Scratch {
        private float[] buf = new float[0];

        float[] get(int n) {
            if (buf.length < n) {
                buf = new float[n];
            }
            return buf;
        }
    }

    private final float p;
    private final int site;
    private final Scratch scratch;
    private long[] keep = new long[0]; // mask bits of the last training forward

    /**
     * @param p       drop probability, in [0, 1)
     * @param site    this adapter's dropout site, unique among the adapters of a model, in [0, 2^20)
     * @param scratch shared with the model's other adapters (null: a private one)
     */
    public AdapterDropout(float p, int site, Scratch scratch) {
        if (!(p >= 0f && p < 1f)) {
            throw new IllegalArgumentException("adapter dropout must be in [0, 1), got " + p);
        }
        if (site < 0 || site >= SITES) {
            throw new IllegalArgumentException("dropout site must be in [0, " + SITES + "), got " + site);
        }
        this.p = p;
        this.site = site;
        this.scratch = scratch != null ? scratch : new Scratch();
    }

    public float p() {
        return p;
    }

    public int site() {
        return site;
    }

    /** Whether this batch drops anything: training with p &gt; 0. */
    public boolean active(TokenBatch batch) {
        return p > 0f && batch.training();
    }

    /** u[rows, r] = drop(x)[rows, in] A^T; records the mask for backward when dropout is active. */
    public void project(Kernels k, float[] x, float[] a, float[] u, int rows, int rank, int in, TokenBatch batch) {
        float[] xa = x;
        if (active(batch)) {
            int n = rows * in;
            if (keep.length < Dropout.maskWords(n)) {
                keep = new long[Dropout.maskWords(n)];
            }
            xa = scratch.get(n);
            Dropout.forward(k, xa, x, n, p, batch.dropoutSeed() ^ SEED_SALT, batch.step() * SITES + site,
                    batch.dropoutOffset(n), keep);
        }
        k.sgemm(false, true, rows, rank, in, 1f, xa, 0, in, a, 0, in, 0f, u, 0, rank);
    }

    /** aGrad[r, in] += dU^T drop(x), with the mask of the last {@link #project}. */
    public void weightGradient(Kernels k, float[] du, float[] x, float[] aGrad, int rows, int rank, int in, TokenBatch batch) {
        float[] xa = x;
        if (active(batch)) {
            int n = rows * in;
            xa = scratch.get(n);
            // xa[i] = kept ? x[i] * scale : 0, the same expression as forward's, so the same bits.
            Dropout.backward(k, xa, x, n, p, keep, false);
        }
        k.sgemm(true, false, rank, in, rows, 1f, du, 0, rank, xa, 0, in, 1f, aGrad, 0, in);
    }

    /** dx[rows, in] += the gradient through A and the mask: kept ? (dU A) / (1 - p) : 0. */
    public void inputGradient(Kernels k, float[] du, float[] a, float[] dx, int rows, int rank, int in, TokenBatch batch) {
        if (!active(batch)) {
            k.sgemm(false, false, rows, in, rank, 1f, du, 0, rank, a, 0, in, 1f, dx, 0, in);
            return;
        }
        int n = rows * in;
        float[] g = scratch.get(n);
        k.sgemm(false, false, rows, in, rank, 1f, du, 0, rank, a, 0, in, 0f, g, 0, in);
        Dropout.backward(k, dx, g, n, p, keep, true);
    }
}
