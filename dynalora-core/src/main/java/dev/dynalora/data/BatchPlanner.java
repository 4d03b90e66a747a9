package dev.dynalora.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Plans which examples go into which batch, using token lengths so that batches hold examples of similar
 * length: with dynamic padding (pad to the longest in the batch, not to max_seq_len) this cuts the padded
 * tokens, and so the compute, of a GLUE epoch several-fold.
 *
 * <p>Training plans are "bucketed shuffles": shuffle all examples, cut the shuffled order into chunks of
 * {@code bucketFactor * batchSize}, sort each chunk by length, cut it into batches, then shuffle the batch order.
 * Chunking keeps randomness (a batch's members are drawn from a random slice of the data, not from one global
 * length rank, which would always pair the same examples), while the final shuffle keeps long and short batches
 * interleaved across the epoch. Every example appears exactly once per epoch; only the last batch of the last
 * chunk can be smaller than {@code batchSize}. Plans are a pure function of (lengths, batch size, factor, seed).
 *
 * <p>A batch is an {@code int[]} of example indices (positions in the {@code lengths} array / example list).
 */
public final class BatchPlanner {
    /** Chunk size in batches: big enough for well-matched lengths, small enough to stay random. */
    public static final int DEFAULT_BUCKET_FACTOR = 50;

    private BatchPlanner() {
    }

    /**
     * The batches of training epoch {@code epoch} (0-based) for a run seeded with {@code seed}. Each epoch gets
     * its own well-mixed seed, so epochs differ but a rerun with the same seed replays them exactly.
     */
    public static List<int[]> trainBatches(int[] lengths, int batchSize, long seed, int epoch) {
        return trainBatches(lengths, batchSize, DEFAULT_BUCKET_FACTOR, new SplittableRandom(epochSeed(seed, epoch)));
    }

    /** Bucketed-shuffle plan drawing all randomness from {@code rng} (which it advances). */
    public static List<int[]> trainBatches(int[] lengths, int batchSize, int bucketFactor, SplittableRandom rng) {
        check(lengths, batchSize);
        if (bucketFactor < 1) {
            throw new IllegalArgumentException("bucketFactor must be >= 1, got " + bucketFactor);
        }
        int n = lengths.length;
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        shuffle(order, rng);

        long chunk = (long) bucketFactor * batchSize;
        List<int[]> batches = new ArrayList<>((n + batchSize - 1) / batchSize);
        long[] keys = new long[(int) Math.min(chunk, n)];
        for (int start = 0; start < n; start += (int) Math.min(chunk, n - start)) {
            int size = (int) Math.min(chunk, n - start);
            // Sort by (length, shuffled position): a primitive sort, and ties keep the random order, so equal
            // lengths do not always batch together in index order.
            for (int j = 0; j < size; j++) {
                keys[j] = ((long) lengths[order[start + j]] << 32) | j;
            }
            Arrays.sort(keys, 0, size);
            int[] sorted = new int[size];
            for (int j = 0; j < size; j++) {
                sorted[j] = order[start + (int) keys[j]];
            }
            cut(sorted, batchSize, batches);
        }
        shuffle(batches, rng);
        return batches;
    }

    /**
     * Evaluation plan: no randomness, examples sorted by length, longest first (so a batch that does not fit in
     * memory fails at once, not at the end of a long evaluation). Callers must write each result back to
     * {@code predictions[index]} so outputs come out in the original example order.
     */
    public static List<int[]> evalBatches(int[] lengths, int batchSize) {
        check(lengths, batchSize);
        int n = lengths.length;
        long[] keys = new long[n];
        for (int i = 0; i < n; i++) {
            // Descending length via the complement; ties in ascending index order for a stable, readable plan.
            keys[i] = ((long) (Integer.MAX_VALUE - lengths[i]) << 32) | i;
        }
        Arrays.sort(keys);
        int[] sorted = new int[n];
        for (int i = 0; i < n; i++) {
            sorted[i] = (int) keys[i];
        }
        List<int[]> batches = new ArrayList<>((n + batchSize - 1) / batchSize);
        cut(sorted, batchSize, batches);
        return batches;
    }

    /** Total padded tokens of a plan (batch size x longest member, summed): the cost that bucketing reduces. */
    public static long paddedTokens(List<int[]> batches, int[] lengths) {
        long total = 0;
        for (int[] batch : batches) {
            int max = 0;
            for (int i : batch) {
                max = Math.max(max, lengths[i]);
            }
            total += (long) max * batch.length;
        }
        return total;
    }

    /**
     * A seed for one epoch that is statistically unrelated to its neighbours. Plain {@code seed + epoch} would
     * not do: SplittableRandom streams from nearby seeds are shifted copies of each other.
     */
    static long epochSeed(long seed, int epoch) {
        return mix64(seed ^ mix64(0x632BE59BD9B4E019L + epoch));
    }

    // Stafford's variant 13 of the MurmurHash3 finalizer (the mixer SplittableRandom itself uses).
    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    private static void cut(int[] sorted, int batchSize, List<int[]> out) {
        for (int s = 0; s < sorted.length; s += batchSize) {
            out.add(Arrays.copyOfRange(sorted, s, Math.min(sorted.length, s + batchSize)));
        }
    }

    private static void check(int[] lengths, int batchSize) {
        if (batchSize < 1) {
            throw new IllegalArgumentException("batchSize must be >= 1, got " + batchSize);
        }
        for (int i = 0; i < lengths.length; i++) {
            if (lengths[i] < 0) {
                throw new IllegalArgumentException("negative length " + lengths[i] + " at example " + i);
            }
        }
    }

    private static void shuffle(int[] a, SplittableRandom rng) {
        for (int i = a.length - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
    }

    private static <T> void shuffle(List<T> a, SplittableRandom rng) {
        for (int i = a.size() - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            a.set(j, a.set(i, a.get(j)));
        }
    }
}
