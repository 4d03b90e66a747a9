package dev.dynalora.generation;

/**
 * The k largest of n values: indices ordered by value, largest first; equal values by index, lowest first
 * (so the choice is deterministic). A min-heap of k entries over one pass: O(n log k), with no sort of all n
 * values (a 32,000-token vocabulary and k of 40 or 5).
 */
final class TopK {
    private TopK() {
    }

    /** Indices of the k largest of values[off .. off + n) (relative to off); k is capped at n. */
    static int[] indices(float[] values, int off, int n, int k) {
        k = Math.min(k, n);
        int[] heap = new int[k]; // heap[0] is the worst kept index
        int size = 0;
        for (int i = 0; i < n; i++) {
            if (size < k) {
                heap[size] = i;
                siftUp(heap, size++, values, off);
            } else if (k > 0 && better(values, off, i, heap[0])) {
                heap[0] = i;
                siftDown(heap, 0, k, values, off);
            }
        }
        // Pop the worst to the end repeatedly: heap[] becomes best-first.
        for (int end = size - 1; end > 0; end--) {
            int t = heap[0];
            heap[0] = heap[end];
            heap[end] = t;
            siftDown(heap, 0, end, values, off);
        }
        return heap;
    }

    /** Whether index i ranks above index j: a larger value, or an equal one at a lower index. NaN ranks last. */
    private static boolean better(float[] v, int off, int i, int j) {
        float a = v[off + i];
        float b = v[off + j];
        if (a != b) {
            return a > b || Float.isNaN(b);
        }
        return i < j;
    }

    private static void siftUp(int[] h, int at, float[] v, int off) {
        while (at > 0) {
            int parent = (at - 1) / 2;
            if (!better(v, off, h[parent], h[at])) {
                return;
            }
            int t = h[parent];
            h[parent] = h[at];
            h[at] = t;
            at = parent;
        }
    }

    private static void siftDown(int[] h, int at, int size, float[] v, int off) {
        while (true) {
            int l = 2 * at + 1;
            if (l >= size) {
                return;
            }
            int worst = l;
            if (l + 1 < size && better(v, off, h[l], h[l + 1])) {
                worst = l + 1;
            }
            if (!better(v, off, h[at], h[worst])) {
                return;
            }
            int t = h[at];
            h[at] = h[worst];
            h[worst] = t;
            at = worst;
        }
    }
}
