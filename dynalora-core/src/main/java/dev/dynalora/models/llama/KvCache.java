package dev.dynalora.models.llama;

import dev.dynalora.models.DecodingCache;

/**
 * The keys and values of every token a decoder has seen, per layer and per sequence, so that a decode step
 * runs only the new token through the model and its attention reads the past from here instead of
 * recomputing it. Sequences live in slots; each slot has its own length (its next token's position), so
 * sequences of different lengths share one cache and one decode step. Keys are stored after RoPE, as
 * attention reads them.
 *
 * <p>Layout: for layer l and slot s, one array [capacity, kvDim] (row p holds position p). Separate arrays
 * per slot keep a slot's keys contiguous for its attention and let a slot be reused for a new sequence
 * ({@link #clear}) without touching the others.
 */
public final class KvCache implements DecodingCache {
    private final int kvDim;
    private final int capacity;
    private final float[][][] keys;   // [layer][slot] -> [capacity * kvDim]
    private final float[][][] values;
    private final int[] length;

    /**
     * @param slots    sequences held at once
     * @param capacity positions per sequence (at most max_position_embeddings: RoPE has no table beyond it)
     */
    public KvCache(LlamaConfig config, int slots, int capacity) {
        if (slots < 1) {
            throw new IllegalArgumentException("a KV cache needs at least one slot, got " + slots);
        }
        if (capacity < 1 || capacity > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("KV cache capacity " + capacity + " outside [1, max_position_embeddings "
                    + config.maxPositionEmbeddings() + "]");
        }
        long floats = (long) capacity * config.kvDim();
        if (floats > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(capacity + " positions of " + config.kvDim() + " values exceed one Java array");
        }
        this.kvDim = config.kvDim();
        this.capacity = capacity;
        int layers = config.numHiddenLayers();
        keys = new float[layers][slots][(int) floats];
        values = new float[layers][slots][(int) floats];
        length = new int[slots];
    }

    @Override
    public int slots() {
        return length.length;
    }

    @Override
    public int capacity() {
        return capacity;
    }

    /** Tokens held for the slot: the position its next token takes. */
    @Override
    public int length(int slot) {
        return length[slot];
    }

    /** Forgets the slot's sequence, so a new one can start there at position 0 (the arrays are reused). */
    @Override
    public void clear(int slot) {
        length[slot] = 0;
    }

    float[] keys(int layer, int slot) {
        return keys[layer][slot];
    }

    float[] values(int layer, int slot) {
        return values[layer][slot];
    }

    /** Copies rows [row0, row0 + n) of k and v ([rows, kvDim]) to the slot's positions [pos, pos + n) in a layer. */
    void write(int layer, int slot, int pos, float[] k, float[] v, int row0, int n) {
        System.arraycopy(k, row0 * kvDim, keys[layer][slot], pos * kvDim, n * kvDim);
        System.arraycopy(v, row0 * kvDim, values[layer][slot], pos * kvDim, n * kvDim);
    }

    void advance(int slot, int n) {
        length[slot] += n;
    }
}
