package dev.dynalora.data;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BatchPlannerTest {
    /** GLUE-like token lengths: mostly short, a long tail. */
    private static int[] lengths(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] len = new int[n];
        for (int i = 0; i < n; i++) {
            len[i] = 5 + (int) (Math.abs(r.nextGaussian()) * 30);
        }
        return len;
    }

    private static void assertEachIndexOnce(List<int[]> batches, int n) {
        int[] seen = new int[n];
        for (int[] b : batches) {
            for (int i : b) {
                seen[i]++;
            }
        }
        for (int i = 0; i < n; i++) {
            assertEquals(1, seen[i], "example " + i);
        }
    }

    private static List<List<Integer>> asLists(List<int[]> batches) {
        List<List<Integer>> out = new ArrayList<>();
        for (int[] b : batches) {
            out.add(Arrays.stream(b).boxed().toList());
        }
        return out;
    }

    @Test
    void trainCoversEveryExampleOnceWithFullBatches() {
        for (int n : new int[]{1, 7, 32, 1000, 10007}) {
            int[] len = lengths(n, n);
            List<int[]> batches = BatchPlanner.trainBatches(len, 32, 42L, 0);
            assertEachIndexOnce(batches, n);
            assertEquals((n + 31) / 32, batches.size());
            // Chunks are whole multiples of the batch size, so at most one batch (the tail) is short.
            long shortBatches = batches.stream().filter(b -> b.length < 32).count();
            assertTrue(shortBatches <= 1, "short batches: " + shortBatches);
        }
        assertTrue(BatchPlanner.trainBatches(new int[0], 8, 1L, 0).isEmpty());
    }

    @Test
    void deterministicPerSeedAndEpoch() {
        int[] len = lengths(5000, 3);
        List<List<Integer>> a = asLists(BatchPlanner.trainBatches(len, 16, 7L, 2));
        assertEquals(a, asLists(BatchPlanner.trainBatches(len, 16, 7L, 2)));
        assertFalse(a.equals(asLists(BatchPlanner.trainBatches(len, 16, 7L, 3))), "epochs must differ");
        assertFalse(a.equals(asLists(BatchPlanner.trainBatches(len, 16, 8L, 2))), "seeds must differ");
        SplittableRandom r1 = new SplittableRandom(99), r2 = new SplittableRandom(99);
        assertEquals(asLists(BatchPlanner.trainBatches(len, 16, 10, r1)),
                asLists(BatchPlanner.trainBatches(len, 16, 10, r2)));
    }

    @Test
    void bucketingReducesPaddingButStaysRandom() {
        int n = 20000, bs = 32;
        int[] len = lengths(n, 11);
        List<int[]> bucketed = BatchPlanner.trainBatches(len, bs, 1L, 0);
        // bucketFactor 1 means chunk = one batch: sorting inside a batch changes nothing, i.e. a plain shuffle.
        List<int[]> plain = BatchPlanner.trainBatches(len, bs, 1, new SplittableRandom(1));
        long real = Arrays.stream(len).asLongStream().sum();
        long padBucketed = BatchPlanner.paddedTokens(bucketed, len) - real;
        long padPlain = BatchPlanner.paddedTokens(plain, len) - real;
        assertTrue(padBucketed * 5 < padPlain, "padding bucketed " + padBucketed + " vs shuffled " + padPlain);
        // Batch order is shuffled: lengths do not rise monotonically through the epoch.
        int rises = 0, falls = 0;
        for (int i = 1; i < bucketed.size(); i++) {
            int prev = len[bucketed.get(i - 1)[0]], cur = len[bucketed.get(i)[0]];
            if (cur > prev) {
                rises++;
            } else if (cur < prev) {
                falls++;
            }
        }
        assertTrue(rises > bucketed.size() / 5 && falls > bucketed.size() / 5, rises + " rises, " + falls + " falls");
        // Batches are drawn from random slices: the first batch is not simply indices 0..31.
        int[] first = bucketed.get(0).clone();
        Arrays.sort(first);
        assertFalse(first[bs - 1] == bs - 1);
    }

    @Test
    void evalIsSortedLongestFirstAndCoversAll() {
        int[] len = {3, 9, 1, 9, 5, 2, 7};
        List<int[]> batches = BatchPlanner.evalBatches(len, 3);
        assertEquals(3, batches.size());
        assertArrayEquals(new int[]{1, 3, 6}, batches.get(0)); // lengths 9, 9 (ties by index), 7
        assertArrayEquals(new int[]{4, 0, 5}, batches.get(1));
        assertArrayEquals(new int[]{2}, batches.get(2));
        assertEachIndexOnce(batches, len.length);
        assertEquals(asLists(batches), asLists(BatchPlanner.evalBatches(len, 3)));
        // Results written back by index come out in the original order.
        int[] out = new int[len.length];
        for (int[] b : batches) {
            for (int i : b) {
                out[i] = len[i] * 10;
            }
        }
        assertArrayEquals(new int[]{30, 90, 10, 90, 50, 20, 70}, out);
    }

    @Test
    void rejectsBadArguments() {
        assertThrows(IllegalArgumentException.class, () -> BatchPlanner.evalBatches(new int[]{1}, 0));
        assertThrows(IllegalArgumentException.class, () -> BatchPlanner.trainBatches(new int[]{-1}, 4, 1L, 0));
        assertThrows(IllegalArgumentException.class,
                () -> BatchPlanner.trainBatches(new int[]{1}, 4, 0, new SplittableRandom(1)));
    }
}
