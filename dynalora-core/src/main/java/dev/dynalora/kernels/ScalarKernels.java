package dev.dynalora.kernels;

import java.util.Arrays;

/**
 * A plain scalar implementation of every {@link Kernels} operation, written from the formulas in the
 * interface's contracts and sharing no code with the Vector API backend: single-threaded, plain loops, sums
 * and intermediate values in double (rounded to float once, when stored), {@link Math#exp} and the double
 * {@link Erf} instead of float polynomial approximations, and its own copy of the dropout hash. It is the
 * tests' independent reference (KernelsAgreementTest runs every operation on both backends and compares), not
 * something to run models on: it is many times slower than {@link CpuKernels}.
 */
public final class ScalarKernels implements Kernels {

    @Override
    public int threads() {
        return 1;
    }

    // ------------------------------------------------------------------------------------------------
    // Products and loops
    // ------------------------------------------------------------------------------------------------

    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                      float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                      float beta, float[] c, int cOff, int ldc) {
        sgemmLocal(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
    }

    @Override
    public void sgemmLocal(boolean transA, boolean transB, int m, int n, int k, float alpha,
                           float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                           float beta, float[] c, int cOff, int ldc) {
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    double av = transA ? a[aOff + p * lda + i] : a[aOff + i * lda + p];
                    double bv = transB ? b[bOff + j * ldb + p] : b[bOff + p * ldb + j];
                    s += av * bv;
                }
                int ci = cOff + i * ldc + j;
                c[ci] = (float) (alpha * s + (beta == 0f ? 0.0 : (double) beta * c[ci]));
            }
        }
    }

    @Override
    public void parallelFor(int n, RangeBody body) {
        if (n > 0) {
            body.run(0, n);
        }
    }

    @Override
    public void parallelForDynamic(int n, int block, RangeBody body) {
        if (block < 1) {
            throw new IllegalArgumentException("block must be >= 1, got " + block);
        }
        parallelFor(n, body);
    }

    // ------------------------------------------------------------------------------------------------
    // Normalisation
    // ------------------------------------------------------------------------------------------------

    @Override
    public void layerNormForward(float[] out, float[] mean, float[] rstd, float[] x, float[] gamma, float[] beta,
                                 int rows, int dim, float eps) {
        for (int r = 0; r < rows; r++) {
            int base = r * dim;
            double mu = 0;
            for (int c = 0; c < dim; c++) {
                mu += x[base + c];
            }
            mu /= dim;
            double var = 0;
            for (int c = 0; c < dim; c++) {
                double d = x[base + c] - mu;
                var += d * d;
            }
            var /= dim;
            double rs = 1.0 / Math.sqrt(var + eps);
            for (int c = 0; c < dim; c++) {
                double g = gamma == null ? 1.0 : gamma[c];
                double b = beta == null ? 0.0 : beta[c];
                out[base + c] = (float) ((x[base + c] - mu) * rs * g + b);
            }
            if (mean != null) {
                mean[r] = (float) mu;
            }
            if (rstd != null) {
                rstd[r] = (float) rs;
            }
        }
    }

    @Override
    public void layerNormResidualForward(float[] out, float[] res, float[] mean, float[] rstd, float[] a, float[] b,
                                         float[] gamma, float[] beta, int rows, int dim, float eps) {
        add(res, a, b, rows * dim);
        layerNormForward(out, mean, rstd, res, gamma, beta, rows, dim, eps);
    }

    @Override
    public void layerNormBackward(float[] dx, float[] dgamma, float[] dbeta, float[] dout, float[] x, float[] gamma,
                                  float[] mean, float[] rstd, int rows, int dim, boolean overwriteDx) {
        double[] dg = new double[dim];
        double[] db = new double[dim];
        for (int r = 0; r < rows; r++) {
            int base = r * dim;
            double mg = 0;
            double mgx = 0;
            if (dx != null || dgamma != null) {
                for (int c = 0; c < dim; c++) {
                    double xhat = (x[base + c] - (double) mean[r]) * rstd[r];
                    double g = (double) dout[base + c] * (gamma == null ? 1.0 : gamma[c]);
                    mg += g;
                    mgx += g * xhat;
                    dg[c] += dout[base + c] * xhat;
                }
            }
            for (int c = 0; c < dim; c++) {
                db[c] += dout[base + c];
            }
            if (dx != null) {
                mg /= dim;
                mgx /= dim;
                for (int c = 0; c < dim; c++) {
                    double xhat = (x[base + c] - (double) mean[r]) * rstd[r];
                    double g = (double) dout[base + c] * (gamma == null ? 1.0 : gamma[c]);
                    double v = rstd[r] * (g - mg - xhat * mgx);
                    dx[base + c] = (float) (overwriteDx ? v : dx[base + c] + v);
                }
            }
        }
        for (int c = 0; c < dim; c++) {
            if (dgamma != null) {
                dgamma[c] = (float) (dgamma[c] + dg[c]);
            }
            if (dbeta != null) {
                dbeta[c] = (float) (dbeta[c] + db[c]);
            }
        }
    }

    @Override
    public void rmsNormForward(float[] out, float[] rstd, float[] x, float[] weight, int rows, int dim, float eps) {
        for (int r = 0; r < rows; r++) {
            int base = r * dim;
            double ss = 0;
            for (int c = 0; c < dim; c++) {
                ss += (double) x[base + c] * x[base + c];
            }
            double rs = 1.0 / Math.sqrt(ss / dim + eps);
            for (int c = 0; c < dim; c++) {
                out[base + c] = (float) (x[base + c] * rs * (weight == null ? 1.0 : weight[c]));
            }
            if (rstd != null) {
                rstd[r] = (float) rs;
            }
        }
    }

    @Override
    public void rmsNormBackward(float[] dx, float[] dweight, float[] dout, float[] x, float[] weight, float[] rstd,
                                int rows, int dim, boolean overwriteDx) {
        double[] dw = new double[dim];
        for (int r = 0; r < rows; r++) {
            int base = r * dim;
            double rs = rstd[r];
            double s = 0;
            for (int c = 0; c < dim; c++) {
                double g = (double) dout[base + c] * (weight == null ? 1.0 : weight[c]);
                s += g * x[base + c];
                dw[c] += dout[base + c] * (x[base + c] * rs);
            }
            if (dx != null) {
                for (int c = 0; c < dim; c++) {
                    double g = (double) dout[base + c] * (weight == null ? 1.0 : weight[c]);
                    double v = rs * (g - x[base + c] * rs * rs * s / dim);
                    dx[base + c] = (float) (overwriteDx ? v : dx[base + c] + v);
                }
            }
        }
        if (dweight != null) {
            for (int c = 0; c < dim; c++) {
                dweight[c] = (float) (dweight[c] + dw[c]);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Softmax
    // ------------------------------------------------------------------------------------------------

    /** softmax of z[0, n) into out[off, off + n) (zeros when the maximum is -infinity). */
    private static void softmax(double[] z, int n, float[] out, int off) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, z[i]);
        }
        if (max == Double.NEGATIVE_INFINITY) {
            Arrays.fill(out, off, off + n, 0f);
            return;
        }
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += Math.exp(z[i] - max);
        }
        for (int i = 0; i < n; i++) {
            out[off + i] = (float) (Math.exp(z[i] - max) / sum);
        }
    }

    @Override
    public void softmaxForward(float[] out, float[] x, int rows, int cols) {
        double[] z = new double[cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                z[c] = x[r * cols + c];
            }
            softmax(z, cols, out, r * cols);
        }
    }

    @Override
    public void softmaxBackward(float[] dx, float[] y, float[] dout, int rows, int cols) {
        for (int r = 0; r < rows; r++) {
            int base = r * cols;
            double dot = 0;
            for (int c = 0; c < cols; c++) {
                dot += (double) dout[base + c] * y[base + c];
            }
            for (int c = 0; c < cols; c++) {
                dx[base + c] = (float) (dx[base + c] + y[base + c] * (dout[base + c] - dot));
            }
        }
    }

    @Override
    public void softmaxRowsLocal(float[] a, int off, int rows, int cols, int visible0, float[] bias, int bOff) {
        double[] z = new double[cols];
        for (int i = 0; i < rows; i++) {
            int row = off + i * cols;
            int visible = (int) Math.min(cols, (long) visible0 + i);
            for (int j = 0; j < visible; j++) {
                // the biased score is rounded to float, as the contract's "a + bias" is a float array
                z[j] = bias == null ? a[row + j] : (float) (a[row + j] + bias[bOff + j]);
            }
            softmax(z, visible, a, row);
            for (int j = visible; j < cols; j++) {
                a[row + j] = 0f;
            }
        }
    }

    @Override
    public void softmaxBackwardRowsLocal(float[] y, int yOff, float[] g, int gOff, int rows, int cols) {
        for (int i = 0; i < rows; i++) {
            int yo = yOff + i * cols;
            int go = gOff + i * cols;
            double dot = 0;
            for (int j = 0; j < cols; j++) {
                dot += (double) g[go + j] * y[yo + j];
            }
            for (int j = 0; j < cols; j++) {
                g[go + j] = (float) (y[yo + j] * (g[go + j] - dot));
            }
        }
    }

    @Override
    public double logSumExpLocal(float[] x, int off, int n, float[] scratch) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            float v = x[off + i];
            if (Float.isNaN(v)) {
                return Double.NaN;
            }
            max = Math.max(max, v);
        }
        if (max == Double.NEGATIVE_INFINITY) {
            return max;
        }
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += Math.exp(x[off + i] - max);
        }
        return max + Math.log(sum);
    }

    // ------------------------------------------------------------------------------------------------
    // Activations
    // ------------------------------------------------------------------------------------------------

    private static final double SQRT_HALF = Math.sqrt(0.5);
    private static final double INV_SQRT_2PI = 1.0 / Math.sqrt(2 * Math.PI);

    /** Phi(x), the standard normal distribution function. */
    private static double phiCdf(double x) {
        return 0.5 * Erf.erfc(-x * SQRT_HALF);
    }

    @Override
    public void geluForward(float[] out, float[] x, int n) {
        for (int i = 0; i < n; i++) {
            out[i] = (float) (x[i] * phiCdf(x[i]));
        }
    }

    @Override
    public void geluBackward(float[] dx, float[] x, float[] dout, int n, boolean accumulate) {
        for (int i = 0; i < n; i++) {
            double xi = x[i];
            double grad = phiCdf(xi) + xi * INV_SQRT_2PI * Math.exp(-0.5 * xi * xi);
            double v = grad * dout[i];
            dx[i] = (float) (accumulate ? dx[i] + v : v);
        }
    }

    private static double sigmoid(double g) {
        return 1.0 / (1.0 + Math.exp(-g));
    }

    @Override
    public void swigluForward(float[] h, float[] gate, float[] up, int n) {
        for (int i = 0; i < n; i++) {
            double g = gate[i];
            h[i] = (float) (g * sigmoid(g) * up[i]);
        }
    }

    @Override
    public void swigluBackward(float[] dGate, float[] dUp, float[] dh, float[] gate, float[] up, int n) {
        for (int i = 0; i < n; i++) {
            double g = gate[i];
            double d = dh[i];
            double u = up[i];
            double s = sigmoid(g);
            if (dUp != null) {
                dUp[i] = (float) (d * g * s);
            }
            if (dGate != null) {
                dGate[i] = (float) (d * u * s * (1 + g * (1 - s)));
            }
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Dropout: the mask of the contract, hashed here without DropoutMask's code.
    // ------------------------------------------------------------------------------------------------

    private static long splitMix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    private static boolean kept(long seed, long stream, long i, float p) {
        if (p == 0f) {
            return true;
        }
        if (p >= 1f) {
            return false;
        }
        long g = 0x9E3779B97F4A7C15L;
        long key = splitMix(splitMix(seed) + g * (stream + 1));
        long u = splitMix(key + g * (i + 1)) >>> 32;
        return u >= Math.round(p * 4294967296.0);
    }

    private static float keptScale(float p) {
        return p >= 1f ? 0f : (float) (1.0 / (1.0 - p));
    }

    @Override
    public void dropoutForward(float[] out, float[] in, int n, float p, long seed, long stream, long first, long[] keep) {
        float scale = keptScale(p);
        if (keep != null) {
            Arrays.fill(keep, 0, (n + 63) / 64, 0L);
        }
        for (int i = 0; i < n; i++) {
            boolean k = kept(seed, stream, first + i, p);
            out[i] = k ? (float) ((double) in[i] * scale) : 0f;
            if (k && keep != null) {
                keep[i / 64] |= 1L << (i % 64);
            }
        }
    }

    @Override
    public void dropoutBackward(float[] din, float[] dout, int n, float p, long seed, long stream, long first) {
        float scale = keptScale(p);
        for (int i = 0; i < n; i++) {
            if (kept(seed, stream, first + i, p)) {
                din[i] = (float) (din[i] + (double) dout[i] * scale);
            }
        }
    }

    @Override
    public void dropoutBackwardMasked(float[] din, float[] dout, int n, float p, long[] keep, boolean accumulate) {
        float scale = keptScale(p);
        for (int i = 0; i < n; i++) {
            boolean k = (keep[i / 64] & (1L << (i % 64))) != 0;
            double v = k ? (double) dout[i] * scale : 0.0;
            din[i] = (float) (accumulate ? din[i] + v : v);
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Element-wise, broadcast and reduction
    // ------------------------------------------------------------------------------------------------

    @Override
    public void gatherRows(float[] dst, float[] src, int rowLen, int[] rows, int n) {
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < rowLen; j++) {
                dst[i * rowLen + j] = src[rows[i] * rowLen + j];
            }
        }
    }

    @Override
    public void gatherColumns(float[] dst, float[] src, int rows, int srcCols, int[] cols, int n) {
        for (int c = 0; c < n; c++) {
            for (int r = 0; r < rows; r++) {
                dst[r * n + c] = src[r * srcCols + cols[c]];
            }
        }
    }

    @Override
    public void scatterAddColumns(float[] dst, int dstCols, float[] src, int rows, int[] cols, int n) {
        for (int c = 0; c < n; c++) {
            for (int r = 0; r < rows; r++) {
                dst[r * dstCols + cols[c]] = (float) ((double) dst[r * dstCols + cols[c]] + src[r * n + c]);
            }
        }
    }

    @Override
    public void tanhForward(float[] out, float[] x, int n) {
        for (int i = 0; i < n; i++) {
            out[i] = (float) Math.tanh(x[i]);
        }
    }

    @Override
    public void tanhBackward(float[] dx, float[] y, float[] dy, int n) {
        for (int i = 0; i < n; i++) {
            double t = y[i];
            dx[i] = (float) (dy[i] * (1.0 - t * t));
        }
    }

    @Override
    public void add(float[] out, float[] a, float[] b, int n) {
        for (int i = 0; i < n; i++) {
            out[i] = (float) ((double) a[i] + b[i]);
        }
    }

    @Override
    public void accumulate(float[] dst, int dOff, float[] src, int sOff, int n) {
        for (int i = 0; i < n; i++) {
            dst[dOff + i] = (float) ((double) dst[dOff + i] + src[sOff + i]);
        }
    }

    @Override
    public void scale(float[] out, int oOff, float[] x, int xOff, int n, float f) {
        for (int i = 0; i < n; i++) {
            out[oOff + i] = (float) ((double) f * x[xOff + i]);
        }
    }

    @Override
    public void addBiasRows(float[] out, float[] bias, int rows, int cols, boolean accumulate) {
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                int i = r * cols + c;
                out[i] = (float) (accumulate ? (double) out[i] + bias[c] : bias[c]);
            }
        }
    }

    @Override
    public void columnSums(float[] db, float[] dout, int rows, int cols) {
        for (int c = 0; c < cols; c++) {
            double s = db[c];
            for (int r = 0; r < rows; r++) {
                s += dout[r * cols + c];
            }
            db[c] = (float) s;
        }
    }

    @Override
    public void embeddingForward(float[] out, int[] ids, float[] table, int rows, int dim) {
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < dim; c++) {
                out[r * dim + c] = table[ids[r] * dim + c];
            }
        }
    }

    @Override
    public void embeddingBackward(float[] dTable, float[] dout, int[] ids, int rows, int dim) {
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < dim; c++) {
                dTable[ids[r] * dim + c] += dout[r * dim + c];
            }
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Losses
    // ------------------------------------------------------------------------------------------------

    @Override
    public float crossEntropyForward(float[] probs, float[] rowLoss, float[] logits, int[] labels, int batch,
                                     int classes, int ignoreIndex) {
        double total = 0;
        int count = 0;
        double[] z = new double[classes];
        for (int r = 0; r < batch; r++) {
            int base = r * classes;
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < classes; c++) {
                z[c] = logits[base + c];
                max = Math.max(max, z[c]);
            }
            double sum = 0;
            for (int c = 0; c < classes; c++) {
                sum += Math.exp(z[c] - max);
            }
            double lse = max + Math.log(sum);
            for (int c = 0; c < classes; c++) {
                probs[base + c] = (float) Math.exp(z[c] - lse);
            }
            int label = labels[r];
            if (label == ignoreIndex) {
                rowLoss[r] = 0f;
            } else {
                double loss = lse - z[label];
                rowLoss[r] = (float) loss;
                total += loss;
                count++;
            }
        }
        return count == 0 ? 0f : (float) (total / count);
    }

    @Override
    public void crossEntropyBackward(float[] dlogits, float[] probs, int[] labels, int batch, int classes, float scale,
                                     int ignoreIndex) {
        for (int r = 0; r < batch; r++) {
            if (labels[r] == ignoreIndex) {
                continue;
            }
            for (int c = 0; c < classes; c++) {
                int i = r * classes + c;
                double target = c == labels[r] ? 1.0 : 0.0;
                dlogits[i] = (float) (dlogits[i] + scale * (probs[i] - target));
            }
        }
    }

    @Override
    public void crossEntropyBackwardInPlace(float[] probs, int[] labels, int batch, int classes, float scale,
                                            int ignoreIndex) {
        for (int r = 0; r < batch; r++) {
            for (int c = 0; c < classes; c++) {
                int i = r * classes + c;
                if (labels[r] == ignoreIndex) {
                    probs[i] = 0f;
                } else {
                    double target = c == labels[r] ? 1.0 : 0.0;
                    probs[i] = (float) (scale * (probs[i] - target));
                }
            }
        }
    }

    @Override
    public float meanSquaredError(float[] pred, float[] target, int n) {
        if (n == 0) {
            return 0f;
        }
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += Math.pow((double) pred[i] - target[i], 2);
        }
        return (float) (s / n);
    }

    @Override
    public void meanSquaredErrorBackward(float[] dpred, float[] pred, float[] target, int n, float dloss) {
        for (int i = 0; i < n; i++) {
            dpred[i] = (float) (dpred[i] + (double) dloss * 2 * ((double) pred[i] - target[i]) / n);
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Position
    // ------------------------------------------------------------------------------------------------

    @Override
    public void rope(float[] out, float[] x, int[] positions, int rows, int heads, int headDim, float[] cos,
                     float[] sin) {
        int half = headDim / 2;
        double[] head = new double[headDim];
        for (int r = 0; r < rows; r++) {
            int t = positions[r] * half;
            for (int h = 0; h < heads; h++) {
                int base = (r * heads + h) * headDim;
                for (int i = 0; i < headDim; i++) {
                    head[i] = x[base + i];
                }
                for (int i = 0; i < half; i++) {
                    double c = cos[t + i];
                    double s = sin[t + i];
                    out[base + i] = (float) (head[i] * c - head[i + half] * s);
                    out[base + half + i] = (float) (head[i + half] * c + head[i] * s);
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Optimizer
    // ------------------------------------------------------------------------------------------------

    @Override
    public void adamwUpdate(float[] w, float[] g, float[] m, float[] v, int n, float beta1, float beta2, float eps,
                            float shrink, float stepSize, float invSqrtBc2) {
        for (int i = 0; i < n; i++) {
            double gi = g[i];
            double mi = beta1 * (double) m[i] + (1.0 - beta1) * gi;
            double vi = beta2 * (double) v[i] + (1.0 - beta2) * gi * gi;
            m[i] = (float) mi;
            v[i] = (float) vi;
            w[i] = (float) (w[i] * (double) shrink - stepSize * mi / (Math.sqrt(vi) * invSqrtBc2 + eps));
        }
    }

    @Override
    public double sumSquares(double acc, float[] x, int off, int n) {
        double s = acc;
        for (int i = 0; i < n; i++) {
            double xi = x[off + i];
            s += xi * xi;
        }
        return s;
    }

    // ------------------------------------------------------------------------------------------------
    // Adapters
    // ------------------------------------------------------------------------------------------------

    @Override
    public void scaleRows(float[] out, float[] x, int rows, int cols, float alpha, float[] rowFactor,
                          int rowsPerFactor) {
        for (int i = 0; i < rows; i++) {
            double f = rowFactor == null ? alpha : (double) alpha * rowFactor[i / rowsPerFactor];
            for (int j = 0; j < cols; j++) {
                out[i * cols + j] = (float) (f * x[i * cols + j]);
            }
        }
    }

    @Override
    public void rowDotsAccumulate(float[] out, float[] a, float[] b, int rows, int cols, float scale, int rowsPerOut) {
        for (int i = 0; i < rows; i++) {
            double s = 0;
            for (int j = 0; j < cols; j++) {
                s += (double) a[i * cols + j] * b[i * cols + j];
            }
            out[i / rowsPerOut] = (float) (out[i / rowsPerOut] + s * scale);
        }
    }

    @Override
    public void scaleColumns(float[] out, float[] x, int rows, int cols, float[] colScale) {
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                out[i * cols + j] = (float) ((double) x[i * cols + j] * colScale[j]);
            }
        }
    }

    @Override
    public void scaleColumnsBackward(float[] d, float[] x, float[] colScale, int rows, int cols, float factor,
                                     float[] colGrad) {
        for (int j = 0; j < cols; j++) {
            double s = 0;
            for (int i = 0; i < rows; i++) {
                s += (double) d[i * cols + j] * x[i * cols + j];
            }
            colGrad[j] = (float) (colGrad[j] + factor * s);
        }
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                d[i * cols + j] = (float) ((double) d[i * cols + j] * colScale[j]);
            }
        }
    }

    @Override
    public void gateForward(float[] gate, float[] normed, float[] rms, int[] counts, float[] x, int[] attentionMask,
                            int units, int unitRows, int in, float[] w, float bias, float[] centre, float eps) {
        double[] m = new double[in];
        for (int e = 0; e < units; e++) {
            Arrays.fill(m, 0);
            int count = 0;
            for (int s = 0; s < unitRows; s++) {
                int row = e * unitRows + s;
                if (attentionMask[row] == 0) {
                    continue;
                }
                count++;
                for (int j = 0; j < in; j++) {
                    m[j] += x[row * in + j];
                }
            }
            double ss = 0;
            for (int j = 0; j < in; j++) {
                m[j] = count == 0 ? 0 : m[j] / count - (centre != null ? centre[j] : 0);
                ss += m[j] * m[j];
            }
            double r = Math.sqrt(ss / in + eps);
            double z = bias;
            for (int j = 0; j < in; j++) {
                z += w[j] * (m[j] / r);
                normed[e * in + j] = (float) (m[j] / r);
            }
            counts[e] = count;
            rms[e] = (float) r;
            gate[e] = (float) (2 * sigmoid(z));
        }
    }

    @Override
    public void gateBackward(float[] dx, float[] dw, float[] db, float[] dGate, float[] gate, float[] normed,
                             float[] rms, int[] counts, float[] w, int[] attentionMask, int units, int unitRows,
                             int in) {
        double dbSum = db[0];
        double[] dwSum = new double[in];
        double[] dm = new double[in];
        for (int e = 0; e < units; e++) {
            double s = gate[e] / 2.0;
            double dz = dGate[e] * 2.0 * s * (1 - s);
            dbSum += dz;
            for (int j = 0; j < in; j++) {
                dwSum[j] += dz * normed[e * in + j];
            }
            if (dx == null || counts[e] == 0) {
                continue;
            }
            double dot = 0;
            for (int j = 0; j < in; j++) {
                dot += dz * w[j] * normed[e * in + j];
            }
            for (int j = 0; j < in; j++) {
                dm[j] = (dz * w[j] - normed[e * in + j] * (dot / in)) / ((double) rms[e] * counts[e]);
            }
            for (int t = 0; t < unitRows; t++) {
                int row = e * unitRows + t;
                if (attentionMask[row] == 0) {
                    continue;
                }
                for (int j = 0; j < in; j++) {
                    dx[row * in + j] = (float) (dx[row * in + j] + dm[j]);
                }
            }
        }
        db[0] = (float) dbSum;
        for (int j = 0; j < in; j++) {
            dw[j] = (float) (dw[j] + dwSum[j]);
        }
    }
}
