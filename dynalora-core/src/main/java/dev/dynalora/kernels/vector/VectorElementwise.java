package dev.dynalora.kernels.vector;

import dev.dynalora.kernels.Kernels;

/**
 * The element-wise, broadcast and gather/scatter operations: sums and scalings
 * ({@link dev.dynalora.kernels.Kernels#add}, {@link dev.dynalora.kernels.Kernels#accumulate},
 * {@link dev.dynalora.kernels.Kernels#scale}), the bias broadcast and its gradient
 * ({@link dev.dynalora.kernels.Kernels#addBiasRows}, {@link dev.dynalora.kernels.Kernels#columnSums}) and the
 * embedding lookup and its scatter-add. Plain loops over contiguous elements, which C2 vectorises itself; each
 * element gets one float operation, so results do not depend on the vector width or the thread split.
 */
public final class VectorElementwise {

    private VectorElementwise() {
    }

    /** Below this many elements the element-wise sums run on the calling thread. */
    private static final int MIN_PARALLEL_ADD = 1 << 15;
    /** Below this many elements the row and column loops run on the calling thread. */
    private static final int MIN_PARALLEL = 1 << 14;

    /** See {@link dev.dynalora.kernels.Kernels#add}. */
    public static void add(Kernels k, float[] out, float[] a, float[] b, int n) {
        runFlat(k, n, MIN_PARALLEL_ADD, (from, to) -> {
            for (int i = from; i < to; i++) {
                out[i] = a[i] + b[i];
            }
        });
    }

    /** See {@link dev.dynalora.kernels.Kernels#accumulate}. */
    public static void accumulate(Kernels k, float[] dst, int dOff, float[] src, int sOff, int n) {
        runFlat(k, n, MIN_PARALLEL_ADD, (from, to) -> {
            for (int i = from; i < to; i++) {
                dst[dOff + i] += src[sOff + i];
            }
        });
    }

    /** See {@link dev.dynalora.kernels.Kernels#scale}. */
    public static void scale(Kernels k, float[] out, int oOff, float[] x, int xOff, int n, float f) {
        runFlat(k, n, MIN_PARALLEL_ADD, (from, to) -> {
            for (int i = from; i < to; i++) {
                out[oOff + i] = f * x[xOff + i];
            }
        });
    }

    /** See {@link dev.dynalora.kernels.Kernels#addBiasRows}. */
    public static void addBiasRows(Kernels k, float[] out, float[] bias, int rows, int cols, boolean accumulate) {
        Kernels.RangeBody body = (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int base = r * cols;
                if (accumulate) {
                    for (int c = 0; c < cols; c++) {
                        out[base + c] += bias[c];
                    }
                } else {
                    System.arraycopy(bias, 0, out, base, cols);
                }
            }
        };
        if (rows == 0) {
            return;
        }
        if ((long) rows * cols < MIN_PARALLEL) {
            body.run(0, rows);
        } else {
            k.parallelFor(rows, body);
        }
    }

    /**
     * See {@link dev.dynalora.kernels.Kernels#columnSums}. Parallel over column chunks, each summing all rows in
     * row order: the reduction is never split across threads, so the result is identical for every thread
     * count, and the inner loop over contiguous columns vectorises.
     */
    public static void columnSums(Kernels k, float[] db, float[] dout, int rows, int cols) {
        Kernels.RangeBody body = (c0, c1) -> {
            for (int r = 0; r < rows; r++) {
                int base = r * cols;
                for (int c = c0; c < c1; c++) {
                    db[c] += dout[base + c];
                }
            }
        };
        if ((long) rows * cols < MIN_PARALLEL) {
            body.run(0, cols);
        } else {
            k.parallelFor(cols, body);
        }
    }

    /** See {@link dev.dynalora.kernels.Kernels#embeddingForward}. */
    public static void embeddingForward(Kernels k, float[] out, int[] ids, float[] table, int rows, int dim) {
        Kernels.RangeBody body = (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                System.arraycopy(table, ids[r] * dim, out, r * dim, dim);
            }
        };
        if ((long) rows * dim < MIN_PARALLEL) {
            body.run(0, rows);
        } else if (rows > 0) {
            k.parallelFor(rows, body);
        }
    }

    /**
     * See {@link dev.dynalora.kernels.Kernels#embeddingBackward}. Rows that share an id would race if rows were
     * split across threads, so the split is over the embedding columns instead: each thread owns a column range
     * of every table row and walks all rows in order, which is race-free and gives the same sums for every
     * thread count.
     */
    public static void embeddingBackward(Kernels k, float[] dTable, float[] dout, int[] ids, int rows, int dim) {
        Kernels.RangeBody body = (c0, c1) -> {
            for (int r = 0; r < rows; r++) {
                int src = r * dim;
                int dst = ids[r] * dim;
                for (int c = c0; c < c1; c++) {
                    dTable[dst + c] += dout[src + c];
                }
            }
        };
        if ((long) rows * dim < MIN_PARALLEL) {
            body.run(0, dim);
        } else {
            k.parallelFor(dim, body);
        }
    }

    private static void runFlat(Kernels k, int n, int minParallel, Kernels.RangeBody body) {
        if (n < minParallel) {
            if (n > 0) {
                body.run(0, n);
            }
        } else {
            k.parallelFor(n, body);
        }
    }
}
