package dev.dynalora.layers;

/**
 * Argument checks shared by the ops. A wrong buffer size would otherwise surface as a silent read of the
 * next example's data or an index error deep inside a parallel task; checking once per call is cheap.
 */
final class Checks {

    private Checks() {
    }

    static void len(float[] a, long n, String name) {
        if (a == null) {
            throw new IllegalArgumentException(name + " is null");
        }
        if (a.length < n) {
            throw new IllegalArgumentException(name + " has " + a.length + " elements, need " + n);
        }
    }

    static void len(int[] a, long n, String name) {
        if (a == null) {
            throw new IllegalArgumentException(name + " is null");
        }
        if (a.length < n) {
            throw new IllegalArgumentException(name + " has " + a.length + " elements, need " + n);
        }
    }

    /** As {@link #len(float[], long, String)} but a null array is allowed (an optional gradient). */
    static void lenOrNull(float[] a, long n, String name) {
        if (a != null && a.length < n) {
            throw new IllegalArgumentException(name + " has " + a.length + " elements, need " + n);
        }
    }

    static void positive(int v, String name) {
        if (v <= 0) {
            throw new IllegalArgumentException(name + " must be positive, got " + v);
        }
    }

    static void nonNegative(int v, String name) {
        if (v < 0) {
            throw new IllegalArgumentException(name + " must be >= 0, got " + v);
        }
    }
}
