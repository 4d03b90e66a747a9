package dev.dynalora.kernels.vector;

import dev.dynalora.kernels.Kernels;

/**
 * The Vector API implementation of every {@link Kernels} operation except the matrix products and the thread
 * pool, which a subclass supplies: {@link dev.dynalora.kernels.CpuKernels} (the blocked SGEMM and a persistent
 * pool) and {@link dev.dynalora.kernels.ReferenceKernels} (a triple-loop SGEMM, one thread). The operations run
 * their parallel loops through the subclass's {@link #parallelFor}, so their results depend only on the inputs,
 * never on the thread count. One class per operation group holds the code: {@link VectorLayerNorm},
 * {@link VectorRmsNorm}, {@link VectorSoftmax}, {@link VectorGelu}, {@link VectorSwiGlu}, {@link VectorDropout},
 * {@link VectorElementwise}, {@link VectorLosses}, {@link VectorRope}, {@link VectorOptimizer},
 * {@link VectorAdapters}.
 */
public abstract class VectorKernels implements Kernels {

    @Override
    public void layerNormForward(float[] out, float[] mean, float[] rstd, float[] x, float[] gamma, float[] beta,
                                 int rows, int dim, float eps) {
        VectorLayerNorm.forward(this, out, mean, rstd, x, gamma, beta, rows, dim, eps);
    }

    @Override
    public void layerNormResidualForward(float[] out, float[] res, float[] mean, float[] rstd, float[] a, float[] b,
                                         float[] gamma, float[] beta, int rows, int dim, float eps) {
        VectorLayerNorm.forwardResidual(this, out, res, mean, rstd, a, b, gamma, beta, rows, dim, eps);
    }

    @Override
    public void layerNormBackward(float[] dx, float[] dgamma, float[] dbeta, float[] dout, float[] x, float[] gamma,
                                  float[] mean, float[] rstd, int rows, int dim, boolean overwriteDx) {
        VectorLayerNorm.backward(this, dx, dgamma, dbeta, dout, x, gamma, mean, rstd, rows, dim, overwriteDx);
    }

    @Override
    public void rmsNormForward(float[] out, float[] rstd, float[] x, float[] weight, int rows, int dim, float eps) {
        VectorRmsNorm.forward(this, out, rstd, x, weight, rows, dim, eps);
    }

    @Override
    public void rmsNormBackward(float[] dx, float[] dweight, float[] dout, float[] x, float[] weight, float[] rstd,
                                int rows, int dim, boolean overwriteDx) {
        VectorRmsNorm.backward(this, dx, dweight, dout, x, weight, rstd, rows, dim, overwriteDx);
    }

    @Override
    public void softmaxForward(float[] out, float[] x, int rows, int cols) {
        VectorSoftmax.forward(this, out, x, rows, cols);
    }

    @Override
    public void softmaxBackward(float[] dx, float[] y, float[] dout, int rows, int cols) {
        VectorSoftmax.backward(this, dx, y, dout, rows, cols);
    }

    @Override
    public void softmaxRowsLocal(float[] a, int off, int rows, int cols, int visible0, float[] bias, int bOff) {
        VectorSoftmax.rowsLocal(a, off, rows, cols, visible0, bias, bOff);
    }

    @Override
    public void softmaxBackwardRowsLocal(float[] y, int yOff, float[] g, int gOff, int rows, int cols) {
        VectorSoftmax.backwardRowsLocal(y, yOff, g, gOff, rows, cols);
    }

    @Override
    public double logSumExpLocal(float[] x, int off, int n, float[] scratch) {
        return VectorSoftmax.logSumExp(x, off, n, scratch);
    }

    @Override
    public void geluForward(float[] out, float[] x, int n) {
        VectorGelu.forward(this, out, x, n);
    }

    @Override
    public void geluBackward(float[] dx, float[] x, float[] dout, int n, boolean accumulate) {
        VectorGelu.backward(this, dx, x, dout, n, accumulate);
    }

    @Override
    public void swigluForward(float[] h, float[] gate, float[] up, int n) {
        VectorSwiGlu.forward(this, h, gate, up, n);
    }

    @Override
    public void swigluBackward(float[] dGate, float[] dUp, float[] dh, float[] gate, float[] up, int n) {
        VectorSwiGlu.backward(this, dGate, dUp, dh, gate, up, n);
    }

    @Override
    public void dropoutForward(float[] out, float[] in, int n, float p, long seed, long stream, long first, long[] keep) {
        VectorDropout.forward(this, out, in, n, p, seed, stream, first, keep);
    }

    @Override
    public void dropoutBackward(float[] din, float[] dout, int n, float p, long seed, long stream, long first) {
        VectorDropout.backward(this, din, dout, n, p, seed, stream, first);
    }

    @Override
    public void dropoutBackwardMasked(float[] din, float[] dout, int n, float p, long[] keep, boolean accumulate) {
        VectorDropout.backwardMasked(this, din, dout, n, p, keep, accumulate);
    }

    // Index bookkeeping of Dynamic LoRA's active components (a few thousand values a step): plain loops.
    @Override
    public void gatherRows(float[] dst, float[] src, int rowLen, int[] rows, int n) {
        for (int i = 0; i < n; i++) {
            System.arraycopy(src, rows[i] * rowLen, dst, i * rowLen, rowLen);
        }
    }

    @Override
    public void gatherColumns(float[] dst, float[] src, int rows, int srcCols, int[] cols, int n) {
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < n; c++) {
                dst[r * n + c] = src[r * srcCols + cols[c]];
            }
        }
    }

    @Override
    public void scatterAddColumns(float[] dst, int dstCols, float[] src, int rows, int[] cols, int n) {
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < n; c++) {
                dst[r * dstCols + cols[c]] += src[r * n + c];
            }
        }
    }

    /** A pooler's tanh over [batch, hidden]: a few thousand values a step, so a plain loop over Math.tanh. */
    @Override
    public void tanhForward(float[] out, float[] x, int n) {
        for (int i = 0; i < n; i++) {
            out[i] = (float) Math.tanh(x[i]);
        }
    }

    @Override
    public void tanhBackward(float[] dx, float[] y, float[] dy, int n) {
        for (int i = 0; i < n; i++) {
            dx[i] = dy[i] * (1f - y[i] * y[i]);
        }
    }

    @Override
    public void add(float[] out, float[] a, float[] b, int n) {
        VectorElementwise.add(this, out, a, b, n);
    }

    @Override
    public void accumulate(float[] dst, int dOff, float[] src, int sOff, int n) {
        VectorElementwise.accumulate(this, dst, dOff, src, sOff, n);
    }

    @Override
    public void scale(float[] out, int oOff, float[] x, int xOff, int n, float f) {
        VectorElementwise.scale(this, out, oOff, x, xOff, n, f);
    }

    @Override
    public void addBiasRows(float[] out, float[] bias, int rows, int cols, boolean accumulate) {
        VectorElementwise.addBiasRows(this, out, bias, rows, cols, accumulate);
    }

    @Override
    public void columnSums(float[] db, float[] dout, int rows, int cols) {
        VectorElementwise.columnSums(this, db, dout, rows, cols);
    }

    @Override
    public void embeddingForward(float[] out, int[] ids, float[] table, int rows, int dim) {
        VectorElementwise.embeddingForward(this, out, ids, table, rows, dim);
    }

    @Override
    public void embeddingBackward(float[] dTable, float[] dout, int[] ids, int rows, int dim) {
        VectorElementwise.embeddingBackward(this, dTable, dout, ids, rows, dim);
    }

    @Override
    public float crossEntropyForward(float[] probs, float[] rowLoss, float[] logits, int[] labels, int batch,
                                     int classes, int ignoreIndex) {
        return VectorLosses.crossEntropyForward(this, probs, rowLoss, logits, labels, batch, classes, ignoreIndex);
    }

    @Override
    public void crossEntropyBackward(float[] dlogits, float[] probs, int[] labels, int batch, int classes, float scale,
                                     int ignoreIndex) {
        VectorLosses.crossEntropyBackward(this, dlogits, probs, labels, batch, classes, scale, ignoreIndex);
    }

    @Override
    public void crossEntropyBackwardInPlace(float[] probs, int[] labels, int batch, int classes, float scale,
                                            int ignoreIndex) {
        VectorLosses.crossEntropyBackwardInPlace(this, probs, labels, batch, classes, scale, ignoreIndex);
    }

    @Override
    public float meanSquaredError(float[] pred, float[] target, int n) {
        return VectorLosses.meanSquaredError(pred, target, n);
    }

    @Override
    public void meanSquaredErrorBackward(float[] dpred, float[] pred, float[] target, int n, float dloss) {
        VectorLosses.meanSquaredErrorBackward(dpred, pred, target, n, dloss);
    }

    @Override
    public void rope(float[] out, float[] x, int[] positions, int rows, int heads, int headDim, float[] cos,
                     float[] sin) {
        VectorRope.rope(this, out, x, positions, rows, heads, headDim, cos, sin);
    }

    @Override
    public void adamwUpdate(float[] w, float[] g, float[] m, float[] v, int n, float beta1, float beta2, float eps,
                            float shrink, float stepSize, float invSqrtBc2) {
        VectorOptimizer.adamwUpdate(this, w, g, m, v, n, beta1, beta2, eps, shrink, stepSize, invSqrtBc2);
    }

    @Override
    public double sumSquares(double acc, float[] x, int off, int n) {
        return VectorOptimizer.sumSquares(acc, x, off, n);
    }

    @Override
    public void scaleRows(float[] out, float[] x, int rows, int cols, float alpha, float[] rowFactor,
                          int rowsPerFactor) {
        VectorAdapters.scaleRows(out, x, rows, cols, alpha, rowFactor, rowsPerFactor);
    }

    @Override
    public void rowDotsAccumulate(float[] out, float[] a, float[] b, int rows, int cols, float scale, int rowsPerOut) {
        VectorAdapters.rowDotsAccumulate(out, a, b, rows, cols, scale, rowsPerOut);
    }

    @Override
    public void scaleColumns(float[] out, float[] x, int rows, int cols, float[] colScale) {
        VectorAdapters.scaleColumns(out, x, rows, cols, colScale);
    }

    @Override
    public void scaleColumnsBackward(float[] d, float[] x, float[] colScale, int rows, int cols, float factor,
                                     float[] colGrad) {
        VectorAdapters.scaleColumnsBackward(d, x, colScale, rows, cols, factor, colGrad);
    }

    @Override
    public void gateForward(float[] gate, float[] normed, float[] rms, int[] counts, float[] x, int[] attentionMask,
                            int units, int unitRows, int in, float[] w, float bias, float[] centre, float eps) {
        VectorAdapters.gateForward(this, gate, normed, rms, counts, x, attentionMask, units, unitRows, in, w, bias, centre,
                eps);
    }

    @Override
    public void gateBackward(float[] dx, float[] dw, float[] db, float[] dGate, float[] gate, float[] normed,
                             float[] rms, int[] counts, float[] w, int[] attentionMask, int units, int unitRows,
                             int in) {
        VectorAdapters.gateBackward(this, dx, dw, db, dGate, gate, normed, rms, counts, w, attentionMask, units,
                unitRows, in);
    }
}
