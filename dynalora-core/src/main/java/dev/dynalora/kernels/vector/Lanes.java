package dev.dynalora.kernels.vector;

import jdk.incubator.vector.FloatVector;

/**
 * Horizontal sums of vector lanes in a fixed order.
 *
 * <p>{@code FloatVector.reduceLanes(VectorOperators.ADD)} leaves the order of the additions to the
 * implementation, and it does vary: on JDK 25 the C2 intrinsic adds the lanes as a tree, while the same
 * call still in the interpreter or C1 adds them left to right, so one row could get a different sum
 * before and after the JIT compiled the loop, and a run's results would depend on compilation timing.
 * Summing extracted lanes left to right gives the same float on every path and every JDK. (JDK 17
 * happened to be sequential in both.) The cost is a few scalar adds per row.
 */
final class Lanes {

    private Lanes() {
    }

    private static final int L = FloatVector.SPECIES_PREFERRED.length();

    /** lane 0 + lane 1 + ... + lane L-1, added left to right. */
    static float sum(FloatVector v) {
        float s = v.lane(0);
        for (int i = 1; i < L; i++) { // a constant trip count: C2 unrolls it into constant-index extracts
            s += v.lane(i);
        }
        return s;
    }
}
