package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;

/**
 * Embedding lookup: out[r, :] = table[ids[r], :], table [vocab, dim]. Position and token-type
 * embeddings are the same op with ids = positions / type ids; summing them is {@link Add}'s job.
 *
 * <p>Checks the ids and sizes and runs {@link Kernels#embeddingForward} and {@link Kernels#embeddingBackward}.
 * Saved for backward: only the caller's ids.
 */
public final class Embedding {

    private Embedding() {
    }

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
        k.embeddingForward(out, ids, table, rows, dim);
    }

    /**
     * Scatter-add dTable[ids[r], :] += dout[r, :], rows sharing an id added in row order. No-op when dTable is
     * null (frozen table: no work).
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
        k.embeddingBackward(dTable, dout, ids, rows, dim);
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
