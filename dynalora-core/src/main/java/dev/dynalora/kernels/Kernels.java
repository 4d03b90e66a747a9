package dev.dynalora.kernels;

/**
 * The compute backend seam: every numeric loop of a forward or backward pass and of the optimizer step goes
 * through this interface, grouped into a few dozen coarse operations: the matrix products (SGEMM and its
 * few-row path), layer and RMS norms, softmax (whole rows, attention's masked row blocks, log-sum-exp),
 * GELU and SwiGLU, dropout, element-wise sums and scalings, bias broadcast and column sums, embedding
 * gather and scatter-add, cross-entropy and mean squared error, RoPE, the AdamW update and the gradient
 * norm, and the adapters' row and column scalings and Dynamic LoRA's gate. The layers
 * ({@code dev.dynalora.layers}) check shapes and call these; they hold no numeric loops of their own.
 *
 * <p>Backends: {@link CpuKernels}, the default, runs everything on the Vector API with a persistent thread
 * pool (the element-wise and row operations are in {@code dev.dynalora.kernels.vector}); {@link
 * ScalarKernels} is a single-threaded plain-loop backend written from the formulas, the tests' independent
 * reference; {@link ReferenceKernels} pairs a triple-loop SGEMM with the Vector API element-wise operations
 * (the layers' unit tests run on it). What is not behind the seam: outside the
 * forward and backward passes, the allocators' per-step statistics, merging adapters into base weights and the
 * sampler's loops.
 *
 * <p>Conventions. All matrices are row-major float32 stored in flat arrays; SGEMM takes an offset and a
 * leading dimension (row stride), so a slice such as one attention head inside a [tokens, hidden]
 * activation is addressed without copying; the other operations take arrays that start at index 0 unless
 * an offset is given, with {@code rows} x {@code cols} (or {@code dim}) contiguous elements. Arguments are
 * assumed valid (the layers check them): sizes non-negative, arrays long enough. An operation whose name
 * ends in {@code Local} runs on the calling thread (for use inside {@link #parallelFor} bodies); the others
 * may use all threads. "Accumulates" means {@code +=}, "writes" means {@code =}. Results of every operation
 * are deterministic for a given backend: no sum is split across threads in a way that depends on the thread
 * count, so a backend gives the same bits for 1 thread and for many. Different backends agree to rounding
 * (KernelsAgreementTest states the tolerances), except where an operation says its result is exact.
 */
public interface Kernels {

    /** Number of worker threads this backend uses (the {@code --threads} flag). */
    int threads();

    // ------------------------------------------------------------------------------------------------
    // Matrix products and the thread pool
    // ------------------------------------------------------------------------------------------------

    /**
     * C = alpha * op(A) * op(B) + beta * C, using all threads. op(A) is m x k, op(B) is k x n, C is m x n.
     * With transA, A is stored k x m (lda >= m); otherwise m x k (lda >= k). Likewise for B.
     * With beta == 0, C is overwritten (its old contents, even NaN, are ignored).
     * Results are deterministic for a given thread count (no reduction is split across threads).
     */
    void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
               float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
               float beta, float[] c, int cOff, int ldc);

    /** As {@link #sgemm} but runs on the calling thread only: for use inside {@link #parallelFor}. */
    void sgemmLocal(boolean transA, boolean transB, int m, int n, int k, float alpha,
                    float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                    float beta, float[] c, int cOff, int ldc);

    /**
     * Runs body over [0, n) split into at most {@link #threads()} contiguous chunks, one per thread, and
     * waits for all. The split depends only on n and the thread count, which keeps results deterministic.
     */
    void parallelFor(int n, RangeBody body);

    /**
     * Runs body over [0, n) in blocks of {@code block} consecutive indices (the last may be shorter) that
     * the threads take from a shared counter as they become free, and waits for all. Only for loops whose
     * result for each index does not depend on which indices share a call of body (per-item work, no
     * partial sums per chunk): results are then deterministic while a slowed thread no longer holds up the
     * others, as it does with {@link #parallelFor}'s fixed split.
     */
    void parallelForDynamic(int n, int block, RangeBody body);

    /** A chunk of work [from, to) of a parallel loop. */
    @FunctionalInterface
    interface RangeBody {
        void run(int from, int to);
    }

    // ------------------------------------------------------------------------------------------------
    // Normalisation
    // ------------------------------------------------------------------------------------------------

    /**
     * Layer norm of each row of x [rows, dim]: out = (x - mean) * rstd * gamma + beta with the biased
     * variance, rstd = 1 / sqrt(var + eps). Writes out (may be x); writes mean[rows] and rstd[rows] when not
     * null (saved for backward). gamma null means 1, beta null means 0.
     */
    void layerNormForward(float[] out, float[] mean, float[] rstd, float[] x, float[] gamma, float[] beta,
                          int rows, int dim, float eps);

    /**
     * The residual sum and the layer norm after it: res = a + b (written; may be a or b), then
     * {@link #layerNormForward} of res into out. Bit for bit the same as {@link #add} then
     * {@link #layerNormForward} on the same backend.
     */
    void layerNormResidualForward(float[] out, float[] res, float[] mean, float[] rstd, float[] a, float[] b,
                                  float[] gamma, float[] beta, int rows, int dim, float eps);

    /**
     * Layer norm backward with xhat = (x - mean) * rstd and g = dout * gamma (gamma null means 1):
     * dx = rstd * (g - mean_row(g) - xhat * mean_row(g * xhat)), written when overwriteDx, else accumulated;
     * dgamma += sum over rows of dout * xhat; dbeta += sum over rows of dout. dx, dgamma and dbeta may each be
     * null (skipped); x, mean and rstd are read only when dx or dgamma is not null.
     */
    void layerNormBackward(float[] dx, float[] dgamma, float[] dbeta, float[] dout, float[] x, float[] gamma,
                           float[] mean, float[] rstd, int rows, int dim, boolean overwriteDx);

    /**
     * RMS norm of each row: out = (x * rstd) * weight, rstd = 1 / sqrt(mean(x^2) + eps), the product rounded
     * in that order (as Hugging Face's LlamaRMSNorm). out may be x; rstd[rows] written when not null; weight
     * null means 1.
     */
    void rmsNormForward(float[] out, float[] rstd, float[] x, float[] weight, int rows, int dim, float eps);

    /**
     * RMS norm backward with g = dout * weight: dx = rstd * (g - x * rstd^2 * sum_row(g * x) / dim), written
     * when overwriteDx, else accumulated; dweight += sum over rows of dout * x * rstd. dx and dweight may each
     * be null (skipped); weight null means 1.
     */
    void rmsNormBackward(float[] dx, float[] dweight, float[] dout, float[] x, float[] weight, float[] rstd,
                         int rows, int dim, boolean overwriteDx);

    // ------------------------------------------------------------------------------------------------
    // Softmax
    // ------------------------------------------------------------------------------------------------

    /**
     * out[r, :] = softmax(x[r, :]) over rows rows of cols entries, relative to the row maximum. out may be x.
     * A row whose maximum is -infinity becomes all zeros.
     */
    void softmaxForward(float[] out, float[] x, int rows, int cols);

    /** dx[r, :] += y * (dout - sum(dout * y)) per row, y the saved softmax output. */
    void softmaxBackward(float[] dx, float[] y, float[] dout, int rows, int cols);

    /**
     * Attention's score rows, in place, on the calling thread: for each of rows rows of cols entries starting
     * at a[off] (row i at off + i * cols), the first v_i = min(cols, visible0 + i) entries are replaced by
     * softmax(a + bias[bOff ..]) (bias null for none; the same bias slice for every row) and the entries from
     * v_i on are set to 0. visible0 = cols is a plain softmax of every row; visible0 = 1 a causal mask over a
     * square block. A row whose maximum (after the bias) is -infinity becomes zeros.
     */
    void softmaxRowsLocal(float[] a, int off, int rows, int cols, int visible0, float[] bias, int bOff);

    /**
     * In place, on the calling thread: for each of rows rows of cols entries, g := y * (g - sum(g * y)) (the
     * gradient with respect to the softmax output turned into the gradient with respect to its input).
     */
    void softmaxBackwardRowsLocal(float[] y, int yOff, float[] g, int gOff, int rows, int cols);

    /**
     * log(sum(exp(x[off .. off+n)))) on the calling thread, relative to the row maximum (-infinity for an
     * all -inf row, NaN for a row holding NaN). scratch (at least n floats) is clobbered.
     */
    double logSumExpLocal(float[] x, int off, int n, float[] scratch);

    // ------------------------------------------------------------------------------------------------
    // Activations
    // ------------------------------------------------------------------------------------------------

    /**
     * Row gather: dst[i * rowLen + j] = src[rows[i] * rowLen + j] for i in [0, n), j in [0, rowLen) (exact copies;
     * Dynamic LoRA's copy of its active rows of A).
     */
    void gatherRows(float[] dst, float[] src, int rowLen, int[] rows, int n);

    /**
     * Column gather: dst[r * n + c] = src[r * srcCols + cols[c]] for r in [0, rows), c in [0, n) (exact copies;
     * the active columns of B).
     */
    void gatherColumns(float[] dst, float[] src, int rows, int srcCols, int[] cols, int n);

    /**
     * Column scatter-add, the reverse of {@link #gatherColumns}: dst[r * dstCols + cols[c]] += src[r * n + c]
     * (one float add per element; the columns are distinct).
     */
    void scatterAddColumns(float[] dst, int dstCols, float[] src, int rows, int[] cols, int n);

    /** out[i] = (float) tanh(x[i]) for i in [0, n), tanh taken in double (a BERT pooler's activation); out may be x. */
    void tanhForward(float[] out, float[] x, int n);

    /** dx[i] = dy[i] * (1 - y[i]^2) for i in [0, n), y = tanh(x) as tanhForward wrote it (overwrite; dx may be dy). */
    void tanhBackward(float[] dx, float[] y, float[] dy, int n);

    /** out[i] = gelu(x[i]) = x Phi(x) (the exact, erf-based GELU) for i in [0, n); out may be x. */
    void geluForward(float[] out, float[] x, int n);

    /**
     * dx[i] = dout[i] * gelu'(x[i]), gelu'(x) = Phi(x) + x phi(x): accumulated into dx when accumulate, else
     * written (dx may then be dout: the in-place backward).
     */
    void geluBackward(float[] dx, float[] x, float[] dout, int n, boolean accumulate);

    /** h[i] = silu(gate[i]) * up[i], silu(g) = g sigmoid(g). h may be gate or up. */
    void swigluForward(float[] h, float[] gate, float[] up, int n);

    /**
     * Writes dGate = dh * up * silu'(gate) and dUp = dh * silu(gate), silu'(g) = s (1 + g (1 - s)),
     * s = sigmoid(g). Either output may be null (skipped); one of them may be dh.
     */
    void swigluBackward(float[] dGate, float[] dUp, float[] dh, float[] gate, float[] up, int n);

    // ------------------------------------------------------------------------------------------------
    // Dropout. The mask is part of the contract, so every backend draws the same one: element i is kept
    // iff the high 32 bits of mix(key + G (i + 1)) are >= round(p 2^32), with G = 0x9E3779B97F4A7C15,
    // key = mix(mix(seed) + G (stream + 1)) and mix the SplitMix64 finaliser (p >= 1 drops everything);
    // with an offset first, element i hashes index first + i.
    // Kept elements are scaled by (float) (1 / (1 - p)) (0 for p >= 1).
    // ------------------------------------------------------------------------------------------------

    /**
     * out[i] = kept(i) ? in[i] * scale : 0 (out may be in); p == 0 is an exact copy. With keep not null
     * (at least ceil(n / 64) longs) the mask is also recorded: bit (i & 63) of keep[i >>> 6] set iff kept.
     */
    default void dropoutForward(float[] out, float[] in, int n, float p, long seed, long stream, long[] keep) {
        dropoutForward(out, in, n, p, seed, stream, 0L, keep);
    }

    /**
     * As {@link #dropoutForward(float[], float[], int, float, long, long, long[])} for a part of a larger tensor
     * that starts at element {@code first} of it: element i of these arrays is kept iff element first + i of the
     * whole tensor is (the hash's index is first + i; the recorded bits are still indexed by i). A shard of a
     * batch draws with first = (its first example) x (elements per example) exactly the mask the whole batch
     * draws on its elements; first = 0 is the plain call.
     */
    void dropoutForward(float[] out, float[] in, int n, float p, long seed, long stream, long first, long[] keep);

    /** din[i] += kept(i) ? dout[i] * scale : 0, the mask recomputed from (seed, stream). */
    default void dropoutBackward(float[] din, float[] dout, int n, float p, long seed, long stream) {
        dropoutBackward(din, dout, n, p, seed, stream, 0L);
    }

    /** As above with the mask of element first + i for element i (see the offset forward). */
    void dropoutBackward(float[] din, float[] dout, int n, float p, long seed, long stream, long first);

    /**
     * din[i] (+)= kept ? dout[i] * scale : 0 with the mask recorded by {@link #dropoutForward}: accumulated
     * when accumulate, else written (din may then be dout).
     */
    void dropoutBackwardMasked(float[] din, float[] dout, int n, float p, long[] keep, boolean accumulate);

    // ------------------------------------------------------------------------------------------------
    // Element-wise, broadcast and reduction
    // ------------------------------------------------------------------------------------------------

    /** out[i] = a[i] + b[i] for i in [0, n) (exact: one float add). out may be a or b. */
    void add(float[] out, float[] a, float[] b, int n);

    /** dst[dOff + i] += src[sOff + i] for i in [0, n) (exact: one float add per element). */
    void accumulate(float[] dst, int dOff, float[] src, int sOff, int n);

    /** out[oOff + i] = f * x[xOff + i] for i in [0, n) (exact: one float product). out may be x. */
    void scale(float[] out, int oOff, float[] x, int xOff, int n, float f);

    /** out[r, c] = bias[c] (or += bias[c] when accumulate) for every row of [rows, cols] (exact). */
    void addBiasRows(float[] out, float[] bias, int rows, int cols, boolean accumulate);

    /** db[c] += sum over rows of dout[r, c]: a bias gradient. */
    void columnSums(float[] db, float[] dout, int rows, int cols);

    /** out[r, :] = table[ids[r], :] for table [vocab, dim] (exact: a copy). */
    void embeddingForward(float[] out, int[] ids, float[] table, int rows, int dim);

    /** dTable[ids[r], :] += dout[r, :] for every row r, rows sharing an id added in row order. */
    void embeddingBackward(float[] dTable, float[] dout, int[] ids, int rows, int dim);

    // ------------------------------------------------------------------------------------------------
    // Losses
    // ------------------------------------------------------------------------------------------------

    /**
     * Softmax cross-entropy over logits [batch, classes]: writes probs = softmax of each row (probs may be
     * logits) and rowLoss[r] = logsumexp(logits[r]) - logits[r, labels[r]] (0 where labels[r] ==
     * ignoreIndex), and returns the mean of rowLoss over the rows not ignored (0 when all are). Labels are
     * valid (in [0, classes) or ignoreIndex).
     */
    float crossEntropyForward(float[] probs, float[] rowLoss, float[] logits, int[] labels, int batch, int classes,
                              int ignoreIndex);

    /** dlogits[r, c] += scale * (probs[r, c] - (c == labels[r])) for every row not ignored. */
    void crossEntropyBackward(float[] dlogits, float[] probs, int[] labels, int batch, int classes, float scale,
                              int ignoreIndex);

    /** In place: probs[r, :] := scale * (probs[r, :] - onehot(labels[r])), ignored rows set to 0. */
    void crossEntropyBackwardInPlace(float[] probs, int[] labels, int batch, int classes, float scale,
                                     int ignoreIndex);

    /** mean over [0, n) of (pred - target)^2, summed in double; 0 when n == 0. */
    float meanSquaredError(float[] pred, float[] target, int n);

    /** dpred[i] += dloss * 2 (pred[i] - target[i]) / n, in double, rounded once per element. */
    void meanSquaredErrorBackward(float[] dpred, float[] pred, float[] target, int n, float dloss);

    // ------------------------------------------------------------------------------------------------
    // Position
    // ------------------------------------------------------------------------------------------------

    /**
     * Rotate-half RoPE over x [rows, heads * headDim]: within each head, element i &lt; half = headDim / 2
     * pairs with i + half, and with c = cos[t + i], s = sin[t + i], t = positions[r] * half:
     * out[i] = x[i] c - x[i + half] s, out[i + half] = x[i + half] c + x[i] s. out may be x. The tables are
     * [positions, half]; passing -sin gives the inverse rotation (the backward).
     */
    void rope(float[] out, float[] x, int[] positions, int rows, int heads, int headDim, float[] cos, float[] sin);

    // ------------------------------------------------------------------------------------------------
    // Optimizer
    // ------------------------------------------------------------------------------------------------

    /**
     * The AdamW update of one tensor, in float, for i in [0, n): m = beta1 m + (1 - beta1) g;
     * v = beta2 v + (1 - beta2) g g; w = w * shrink - stepSize * m / (sqrt(v) * invSqrtBc2 + eps), where the
     * caller passes shrink = 1 - lr wd (1 without decay), stepSize = lr / (1 - beta1^t) and
     * invSqrtBc2 = 1 / sqrt(1 - beta2^t). Element-wise: every backend that rounds these float operations in
     * this order gets the same bits.
     */
    void adamwUpdate(float[] w, float[] g, float[] m, float[] v, int n, float beta1, float beta2, float eps,
                     float shrink, float stepSize, float invSqrtBc2);

    /**
     * acc + sum of x[off + i]^2 for i in [0, n), each square added to the running double in index order
     * (so a norm over many tensors is the same sum as over one): the gradient-norm reduction.
     */
    double sumSquares(double acc, float[] x, int off, int n);

    // ------------------------------------------------------------------------------------------------
    // Adapters
    // ------------------------------------------------------------------------------------------------

    /**
     * out[i, j] = f_i * x[i, j] over [rows, cols] with f_i = alpha * rowFactor[i / rowsPerFactor], or
     * f_i = alpha when rowFactor is null (LoRA's scaling, times Dynamic LoRA's gate). out may be x.
     */
    void scaleRows(float[] out, float[] x, int rows, int cols, float alpha, float[] rowFactor, int rowsPerFactor);

    /**
     * out[i / rowsPerOut] += (float) (scale * sum_j a[i, j] b[i, j]) for each row i of [rows, cols], the dot
     * product in double (the gate's gradient from LoRA's rank-space activations).
     */
    void rowDotsAccumulate(float[] out, float[] a, float[] b, int rows, int cols, float scale, int rowsPerOut);

    /** out[i, j] = x[i, j] * colScale[j] over [rows, cols] (AdaLoRA's singular values). out may be x. */
    void scaleColumns(float[] out, float[] x, int rows, int cols, float[] colScale);

    /**
     * AdaLoRA's backward through the column scaling: colGrad[j] += (float) (factor * sum_i d[i, j] x[i, j])
     * (in double), then d[i, j] *= colScale[j] in place.
     */
    void scaleColumnsBackward(float[] d, float[] x, float[] colScale, int rows, int cols, float factor,
                              float[] colGrad);

    /**
     * Dynamic LoRA's input gate for each of units units of unitRows rows of x [units * unitRows, in]: the mean
     * m of the unit's rows whose attentionMask entry is not 0 (0 when none; counts[e] = how many), its RMS
     * norm n = m / r with r = sqrt(mean(m^2) + eps) (in double, rounded to float), and
     * gate[e] = 2 sigmoid(w . n + bias) (the dot in double). With a {@code centre} [in] (null: none), a unit
     * with real rows uses m - centre in place of m (a unit with none keeps m = 0). Writes gate[units],
     * normed[units, in] (= n), rms[units] (= r) and counts[units]. The backward below needs no centre: it is a
     * constant, so d(m - centre)/dm is the identity.
     */
    void gateForward(float[] gate, float[] normed, float[] rms, int[] counts, float[] x, int[] attentionMask,
                     int units, int unitRows, int in, float[] w, float bias, float[] centre, float eps);

    /**
     * Backward of {@link #gateForward} given dGate[units]: dz = dGate * 2 s (1 - s) with s = gate / 2;
     * db[0] += dz and dw += dz * normed, summed over units in order; and, when dx is not null, for every
     * unmasked row of unit e, dx += (dz w - n mean(dz w . n)) / (r count) (mean over in, dot in double).
     */
    void gateBackward(float[] dx, float[] dw, float[] db, float[] dGate, float[] gate, float[] normed, float[] rms,
                      int[] counts, float[] w, int[] attentionMask, int units, int unitRows, int in);
}
