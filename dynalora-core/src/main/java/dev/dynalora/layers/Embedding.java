package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;

/**
 * Embedding lookup: out[r, :] = table[ids[r], :], table [vocab, dim]. Position and token-type
 * embeddings are the same op with ids = positions / type ids; summing them is {@link Add}'s job.
 *
 * <p>Saved for backward: only the caller's ids.
 */
public final class Embedding {

    private Embedding() {
    }

    private static final int MIN_PARALLEL = 1 << 14;

    /**
     * @param out   [rows, dim] (overwritten)
     * @param ids   [rows] token ids, each in [0, vocab) where vocab = table.length / dim
     * @param table [vocab, dim]
     * @throws IllegalArgumentException for an id outside the table (a tokenizer/model vocabulary mismatch),
     *                                  checked before anything is written
     */
    public static void forward(Kernels k, float[] out, int[] ids, float[] table, int rows, int dim) {
        Checks.nonNegative(rows, "rows");
        Checks.positive(dim, "dim");
        Checks.len(out, (long) rows * dim, "out");
        Checks.len(ids, rows, "ids");
        Checks.len(table, dim, "table");
        checkIds(ids, rows, table.length / dim);
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
     * Scatter-add dTable[ids[r], :] += dout[r, :]. No-op when dTable is null (frozen table: no work).
     * Rows that share an id would race if rows were split across threads, so the split is over the
     * embedding columns instead: each thread owns a column range of every table row and walks all rows in
     * order, which is race-free and gives the same sums for every thread count.
     */
    public static void backward(Kernels k, float[] dTable, float[] dout, int[] ids, int rows, int dim) {
        if (dTable == null) {
            return;
        }
        Checks.nonNegative(rows, "rows");
        Checks.positive(dim, "dim");
        Checks.len(dout, (long) rows * dim, "dout");
        Checks.len(ids, rows, "ids");
        checkIds(ids, rows, dTable.length / dim);
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

    private static void checkIds(int[] ids, int rows, int vocab) {
        for (int r = 0; r < rows; r++) {
            int id = ids[r];
            if (id < 0 || id >= vocab) {
                throw new IllegalArgumentException("id " + id + " at row " + r + " is outside the table of " + vocab + " rows");
            }
        }
    }
}
