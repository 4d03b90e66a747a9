package dev.dynalora.models.llama;

import dev.dynalora.adapters.TokenBatch;

import java.util.Arrays;

/**
 * The rows of one cached forward pass: the new tokens of several sequences laid end to end (no padding),
 * one segment per sequence. Segment s is cache slot {@code slot[s]}, rows {@code firstRow[s] ..
 * firstRow[s] + count[s] - 1}, positions from {@code start[s]} (the slot's length before the step).
 */
final class CacheStep {
    final int rows;
    final int segments;
    final int[] ids;
    final int[] positions;
    final int[] slot;
    final int[] firstRow;
    final int[] count;
    final int[] start;
    /** Each row its own example of one token, for the linear modules and their adapters. */
    final TokenBatch rowBatch;
    /** Per segment, the current layer's cache arrays (filled by the layer before attention). */
    final float[][] keys;
    final float[][] values;

    /**
     * @throws IllegalArgumentException for a repeated slot, an empty token list, a token id outside the
     *     vocabulary, or a sequence that would grow past the cache's capacity
     */
    CacheStep(KvCache cache, int[] slots, int[][] tokens, int vocab) {
        if (slots.length != tokens.length) {
            throw new IllegalArgumentException(slots.length + " slots but " + tokens.length + " token lists");
        }
        segments = slots.length;
        slot = slots.clone();
        firstRow = new int[segments];
        count = new int[segments];
        start = new int[segments];
        boolean[] seen = new boolean[cache.slots()];
        int r = 0;
        for (int s = 0; s < segments; s++) {
            int sl = slots[s];
            if (sl < 0 || sl >= cache.slots() || seen[sl]) {
                throw new IllegalArgumentException("slot " + sl + " is outside the cache's " + cache.slots() + " slots or repeated");
            }
            seen[sl] = true;
            if (tokens[s].length == 0) {
                throw new IllegalArgumentException("no new tokens for slot " + sl);
            }
            firstRow[s] = r;
            count[s] = tokens[s].length;
            start[s] = cache.length(sl);
            if (start[s] + count[s] > cache.capacity()) {
                throw new IllegalArgumentException("slot " + sl + " would hold " + (start[s] + count[s])
                        + " tokens, more than the cache's capacity of " + cache.capacity());
            }
            r += count[s];
        }
        rows = r;
        ids = new int[rows];
        positions = new int[rows];
        for (int s = 0; s < segments; s++) {
            for (int i = 0; i < count[s]; i++) {
                int id = tokens[s][i];
                if (id < 0 || id >= vocab) {
                    throw new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, " + vocab + ")");
                }
                ids[firstRow[s] + i] = id;
                positions[firstRow[s] + i] = start[s] + i;
            }
        }
        int[] ones = new int[rows];
        Arrays.fill(ones, 1);
        rowBatch = new TokenBatch(rows, 1, ones, false, 0, 0);
        keys = new float[segments][];
        values = new float[segments][];
    }

    /** The row holding segment s's last new token. */
    int lastRow(int s) {
        return firstRow[s] + count[s] - 1;
    }
}
