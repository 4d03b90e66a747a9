package dev.dynalora.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link CpuKernels} against {@link ReferenceKernels}: shapes with every kind of edge, the four transpose
 * combinations, offsets and padded leading dimensions, alpha/beta (beta = 0 must ignore NaN in C), one and
 * two threads, determinism, and the parallelFor contract. Other vector widths, micro-kernels and tiny block
 * sizes (which drive every blocking loop with small matrices) run in child JVMs, since those settings are
 * fixed per JVM.
 */
class SgemmTest {

    /** (m, n, k): ones, primes, sizes just off the tile sizes (4/6/3 x 8/16/24/32), several k blocks. */
    static final int[][] SHAPES = {
            {1, 1, 1}, {1, 1, 7}, {1, 17, 5}, {17, 1, 5}, {2, 3, 1}, {3, 5, 7}, {4, 16, 1}, {5, 33, 2},
            {6, 32, 3}, {7, 15, 16}, {8, 24, 9}, {13, 31, 64}, {12, 48, 33}, {37, 53, 301}, {64, 64, 64},
            {100, 17, 385}, {31, 95, 600}, {193, 47, 257}, {128, 32, 128}, {128, 128, 32}, {7, 300, 9},
            {250, 130, 700}, {33, 2, 1000},
    };

    static CpuKernels one;
    static CpuKernels two;
    static final ReferenceKernels REF = new ReferenceKernels();

    @BeforeAll
    static void setUp() {
        one = new CpuKernels(1);
        two = new CpuKernels(2);
    }

    @AfterAll
    static void tearDown() {
        one.close();
        two.close();
    }

    // ------------------------------------------------------------------------------------------------
    // sgemm against the reference
    // ------------------------------------------------------------------------------------------------

    @Test
    void allShapesAllFormsOneAndTwoThreads() {
        SplittableRandom rnd = new SplittableRandom(42);
        for (int[] s : SHAPES) {
            for (int form = 0; form < 4; form++) {
                for (CpuKernels kk : new CpuKernels[] {one, two}) {
                    check(kk, form >= 2, (form & 1) == 1, s[0], s[1], s[2], 0.75f, 0.5f, false, false, rnd);
                    check(kk, form >= 2, (form & 1) == 1, s[0], s[1], s[2], 1f, 0f, false, false, rnd);
                }
            }
        }
    }

    @Test
    void sgemmLocalMatchesReference() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (int[] s : SHAPES) {
            for (int form = 0; form < 4; form++) {
                check(two, form >= 2, (form & 1) == 1, s[0], s[1], s[2], -1.25f, 1f, true, true, rnd);
            }
        }
    }

    @Test
    void offsetsAndPaddedLeadingDimensionsLeavePaddingUntouched() {
        SplittableRandom rnd = new SplittableRandom(3);
        int[][] shapes = {{5, 7, 3}, {19, 37, 41}, {64, 48, 300}, {130, 70, 9}};
        for (int[] s : shapes) {
            for (int form = 0; form < 4; form++) {
                for (CpuKernels kk : new CpuKernels[] {one, two}) {
                    for (float beta : new float[] {0f, 1f, -0.5f}) {
                        check(kk, form >= 2, (form & 1) == 1, s[0], s[1], s[2], 1.5f, beta, true, false, rnd);
                    }
                }
            }
        }
    }

    @Test
    void betaZeroIgnoresNanAndInfinityInC() {
        SplittableRandom rnd = new SplittableRandom(11);
        for (int[] s : new int[][] {{3, 5, 7}, {37, 53, 301}, {128, 32, 128}, {9, 40, 500}}) {
            for (int form = 0; form < 4; form++) {
                for (CpuKernels kk : new CpuKernels[] {one, two}) {
                    boolean ta = form >= 2;
                    boolean tb = (form & 1) == 1;
                    int m = s[0];
                    int n = s[1];
                    int k = s[2];
                    float[] a = random(rnd, m * k);
                    float[] b = random(rnd, k * n);
                    float[] c = new float[m * n];
                    for (int i = 0; i < c.length; i++) {
                        c[i] = i % 3 == 0 ? Float.NaN : i % 3 == 1 ? Float.POSITIVE_INFINITY : Float.NEGATIVE_INFINITY;
                    }
                    float[] expect = new float[m * n];
                    REF.sgemm(ta, tb, m, n, k, 0.5f, a, 0, ta ? m : k, b, 0, tb ? k : n, 0f, expect, 0, n);
                    kk.sgemm(ta, tb, m, n, k, 0.5f, a, 0, ta ? m : k, b, 0, tb ? k : n, 0f, c, 0, n);
                    for (float v : c) {
                        assertTrue(Float.isFinite(v), "beta=0 must overwrite C");
                    }
                    assertClose(expect, c, k, 0.5f, 0f, "beta=0 NaN " + Arrays.toString(s));
                }
            }
        }
    }

    @Test
    void degenerateSizesAndAlphaZero() {
        SplittableRandom rnd = new SplittableRandom(5);
        for (CpuKernels kk : new CpuKernels[] {one, two}) {
            // k = 0: C = beta * C; beta = 0 gives zeros even over NaN.
            float[] c = {1f, 2f, Float.NaN, 4f, 5f, 6f};
            kk.sgemm(false, false, 2, 3, 0, 1f, new float[0], 0, 1, new float[0], 0, 3, 2f, c, 0, 3);
            assertArrayEquals(new float[] {2f, 4f, Float.NaN, 8f, 10f, 12f}, c);
            kk.sgemm(false, false, 2, 3, 0, 1f, new float[0], 0, 1, new float[0], 0, 3, 0f, c, 0, 3);
            assertArrayEquals(new float[6], c);
            // m = 0 or n = 0: nothing is touched.
            float[] untouched = {Float.NaN, 1f};
            kk.sgemm(false, false, 0, 2, 4, 1f, new float[0], 0, 4, random(rnd, 8), 0, 2, 0f, untouched, 0, 2);
            kk.sgemm(true, true, 2, 0, 4, 1f, random(rnd, 8), 0, 2, new float[0], 0, 4, 0f, untouched, 0, 1);
            assertTrue(Float.isNaN(untouched[0]));
            assertEquals(1f, untouched[1]);
            // alpha = 0: C = beta * C, A and B not needed.
            float[] c2 = {1f, 2f, 3f, 4f};
            kk.sgemm(false, false, 2, 2, 3, 0f, random(rnd, 6), 0, 3, random(rnd, 6), 0, 2, 0.5f, c2, 0, 2);
            assertArrayEquals(new float[] {0.5f, 1f, 1.5f, 2f}, c2);
        }
    }

    @Test
    void rejectsBadArguments() {
        float[] x = new float[100];
        assertThrows(IllegalArgumentException.class,
                () -> one.sgemm(false, false, -1, 2, 2, 1f, x, 0, 2, x, 0, 2, 0f, x, 0, 2));
        assertThrows(IllegalArgumentException.class,
                () -> one.sgemm(false, false, 2, 4, 3, 1f, x, 0, 2, x, 0, 4, 0f, x, 0, 4)); // lda < k
        assertThrows(IllegalArgumentException.class,
                () -> one.sgemmLocal(false, true, 2, 4, 3, 1f, x, 0, 3, x, 0, 2, 0f, x, 0, 4)); // ldb < k
        assertThrows(IllegalArgumentException.class,
                () -> one.sgemm(false, false, 2, 4, 3, 1f, x, 0, 3, x, 0, 4, 0f, x, 0, 3)); // ldc < n
        assertThrows(IllegalArgumentException.class, () -> new CpuKernels(0));
    }

    // ------------------------------------------------------------------------------------------------
    // Determinism
    // ------------------------------------------------------------------------------------------------

    @Test
    void deterministicRepeatedAndAcrossThreadCounts() {
        SplittableRandom rnd = new SplittableRandom(99);
        try (CpuKernels three = new CpuKernels(3)) {
            for (int[] s : new int[][] {{250, 130, 700}, {37, 530, 301}, {600, 40, 77}, {128, 128, 32},
                    {517, 100, 1100}}) {
                for (int form = 0; form < 4; form++) {
                    boolean ta = form >= 2;
                    boolean tb = (form & 1) == 1;
                    int m = s[0];
                    int n = s[1];
                    int k = s[2];
                    float[] a = random(rnd, m * k);
                    float[] b = random(rnd, k * n);
                    float[] c0 = random(rnd, m * n);
                    float[][] results = new float[4][];
                    CpuKernels[] ks = {one, two, two, three};
                    for (int r = 0; r < results.length; r++) {
                        results[r] = c0.clone();
                        ks[r].sgemm(ta, tb, m, n, k, 0.9f, a, 0, ta ? m : k, b, 0, tb ? k : n, 0.3f, results[r], 0, n);
                    }
                    // Same thread count: identical (the documented contract). This implementation goes further:
                    // no thread split changes any element's arithmetic, so all thread counts agree bit for bit.
                    assertArrayEquals(results[1], results[2], "2 threads twice");
                    assertArrayEquals(results[0], results[1], "1 vs 2 threads");
                    assertArrayEquals(results[0], results[3], "1 vs 3 threads");
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------
    // parallelFor
    // ------------------------------------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4})
    void parallelForCoversEveryIndexExactlyOnce(int threads) {
        try (CpuKernels kk = new CpuKernels(threads)) {
            for (int n : new int[] {0, 1, 2, 3, 4, 5, 7, 100, 1001, 65_537}) {
                AtomicIntegerArray hits = new AtomicIntegerArray(Math.max(n, 1));
                List<int[]> chunks = java.util.Collections.synchronizedList(new ArrayList<>());
                for (int rep = 0; rep < 3; rep++) {
                    chunks.clear();
                    kk.parallelFor(n, (from, to) -> {
                        chunks.add(new int[] {from, to});
                        for (int i = from; i < to; i++) {
                            hits.incrementAndGet(i);
                        }
                    });
                    assertTrue(chunks.size() <= Math.min(threads, Math.max(n, 1)), "at most one chunk per thread");
                    // Contiguous, non-empty chunks that tile [0, n).
                    chunks.sort((x, y) -> Integer.compare(x[0], y[0]));
                    int next = 0;
                    for (int[] ch : chunks) {
                        assertEquals(next, ch[0]);
                        assertTrue(ch[1] > ch[0]);
                        next = ch[1];
                    }
                    assertEquals(n, next);
                }
                for (int i = 0; i < n; i++) {
                    assertEquals(3, hits.get(i), "index " + i + " of " + n);
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4})
    void parallelForDynamicCoversEveryIndexExactlyOnceInWholeBlocks(int threads) {
        try (CpuKernels kk = new CpuKernels(threads)) {
            for (int block : new int[] {1, 3, 4, 64}) {
                for (int n : new int[] {0, 1, 2, 5, 7, 100, 1001}) {
                    AtomicIntegerArray hits = new AtomicIntegerArray(Math.max(n, 1));
                    List<int[]> ranges = java.util.Collections.synchronizedList(new ArrayList<>());
                    kk.parallelForDynamic(n, block, (from, to) -> {
                        ranges.add(new int[] {from, to});
                        for (int i = from; i < to; i++) {
                            hits.incrementAndGet(i);
                        }
                    });
                    for (int i = 0; i < n; i++) {
                        assertEquals(1, hits.get(i), "index " + i + " of " + n + ", block " + block);
                    }
                    // Ranges are whole blocks (the last one may be short), or all of [0, n) on one thread.
                    for (int[] r : ranges) {
                        boolean whole = r[0] == 0 && r[1] == n;
                        boolean oneBlock = r[0] % block == 0 && r[1] == Math.min(n, r[0] + block);
                        assertTrue(whole || oneBlock, "range " + r[0] + ".." + r[1] + " block " + block);
                    }
                }
            }
            assertThrows(IllegalArgumentException.class, () -> kk.parallelForDynamic(5, 0, (f, t) -> { }));
        }
    }

    @Test
    void parallelForDynamicPropagatesExceptionsAndStaysUsable() {
        try (CpuKernels kk = new CpuKernels(2)) {
            IllegalStateException boom = new IllegalStateException("boom");
            assertSame(boom, assertThrows(IllegalStateException.class,
                    () -> kk.parallelForDynamic(100, 1, (from, to) -> {
                        if (from == 57) {
                            throw boom;
                        }
                    })));
            AtomicIntegerArray hits = new AtomicIntegerArray(10);
            kk.parallelForDynamic(10, 2, (from, to) -> {
                for (int i = from; i < to; i++) {
                    hits.incrementAndGet(i);
                }
            });
            for (int i = 0; i < 10; i++) {
                assertEquals(1, hits.get(i));
            }
        }
    }

    @Test
    void parallelForUsesOtherThreadsAndIsReusable() throws Exception {
        try (CpuKernels kk = new CpuKernels(2)) {
            Thread caller = Thread.currentThread();
            boolean[] sawWorker = new boolean[1];
            for (int rep = 0; rep < 2000; rep++) {
                kk.parallelFor(2, (from, to) -> {
                    if (Thread.currentThread() != caller) {
                        sawWorker[0] = true;
                        assertTrue(Thread.currentThread().isDaemon());
                    }
                });
            }
            assertTrue(sawWorker[0], "chunk 1 ran on the worker");
        }
    }

    @Test
    void parallelForPropagatesExceptionsAndStaysUsable() {
        try (CpuKernels kk = new CpuKernels(2)) {
            IllegalStateException boom = new IllegalStateException("boom");
            // Thrown on the worker (chunk 1) and on the caller (chunk 0).
            assertSame(boom, assertThrows(IllegalStateException.class,
                    () -> kk.parallelFor(10, (from, to) -> {
                        if (from > 0) {
                            throw boom;
                        }
                    })));
            assertSame(boom, assertThrows(IllegalStateException.class,
                    () -> kk.parallelFor(10, (from, to) -> {
                        if (from == 0) {
                            throw boom;
                        }
                    })));
            AtomicIntegerArray hits = new AtomicIntegerArray(10);
            kk.parallelFor(10, (from, to) -> {
                for (int i = from; i < to; i++) {
                    hits.incrementAndGet(i);
                }
            });
            for (int i = 0; i < 10; i++) {
                assertEquals(1, hits.get(i));
            }
        }
    }

    @Test
    void nestedParallelForAndSgemmInsideBodiesRunCorrectly() {
        SplittableRandom rnd = new SplittableRandom(17);
        int heads = 6;
        int t = 37;
        int d = 16;
        int hidden = heads * d;
        float[] q = random(rnd, t * hidden);
        float[] kmat = random(rnd, t * hidden);
        float[] scores = new float[heads * t * t];
        float[] expect = new float[heads * t * t];
        // Attention-style use: per-head QK^T through sgemmLocal (and a nested sgemm/parallelFor) inside parallelFor.
        two.parallelFor(heads, (from, to) -> {
            for (int h = from; h < to; h++) {
                if (h % 2 == 0) {
                    two.sgemmLocal(false, true, t, t, d, 0.25f, q, h * d, hidden, kmat, h * d, hidden,
                            0f, scores, h * t * t, t);
                } else {
                    two.sgemm(false, true, t, t, d, 0.25f, q, h * d, hidden, kmat, h * d, hidden,
                            0f, scores, h * t * t, t);
                }
                AtomicIntegerArray inner = new AtomicIntegerArray(5);
                two.parallelFor(5, (f, e) -> {
                    for (int i = f; i < e; i++) {
                        inner.incrementAndGet(i);
                    }
                });
                for (int i = 0; i < 5; i++) {
                    assertEquals(1, inner.get(i));
                }
            }
        });
        for (int h = 0; h < heads; h++) {
            REF.sgemm(false, true, t, t, d, 0.25f, q, h * d, hidden, kmat, h * d, hidden, 0f, expect, h * t * t, t);
        }
        assertClose(expect, scores, d, 0.25f, 0f, "attention heads");
    }

    @Test
    void closedKernelsStillComputeOnTheCallingThread() {
        SplittableRandom rnd = new SplittableRandom(1);
        CpuKernels kk = new CpuKernels(2);
        kk.close();
        kk.close();
        check(kk, false, false, 70, 90, 100, 1f, 0f, false, false, rnd);
        AtomicIntegerArray hits = new AtomicIntegerArray(9);
        kk.parallelFor(9, (from, to) -> {
            for (int i = from; i < to; i++) {
                hits.incrementAndGet(i);
            }
        });
        for (int i = 0; i < 9; i++) {
            assertEquals(1, hits.get(i));
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Other vector widths, micro-kernels and block sizes, each in a child JVM
    // ------------------------------------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(strings = {
            "-Ddynalora.sgemm.vectorBits=128",
            "-Ddynalora.sgemm.vectorBits=128 -Ddynalora.sgemm.kernel=6x2 -Ddynalora.sgemm.kc=8 -Ddynalora.sgemm.mc=12 -Ddynalora.sgemm.nc=16",
            "-Ddynalora.sgemm.kernel=6x2",
            // The 6 x 2 kernel with A packed (the direct read of A switched off), and direct with small blocks.
            "-Ddynalora.sgemm.kernel=6x2 -Ddynalora.sgemm.directA=false",
            "-Ddynalora.sgemm.kernel=6x2 -Ddynalora.sgemm.kc=7 -Ddynalora.sgemm.mc=18 -Ddynalora.sgemm.nc=40",
            "-Ddynalora.sgemm.kernel=3x3",
            "-Ddynalora.sgemm.kernel=4x2 -Ddynalora.sgemm.kc=16 -Ddynalora.sgemm.mc=8 -Ddynalora.sgemm.nc=32",
            "-Ddynalora.sgemm.kernel=3x3 -Ddynalora.sgemm.kc=5 -Ddynalora.sgemm.mc=7 -Ddynalora.sgemm.nc=50",
            "-Ddynalora.sgemm.vectorBits=512 small",
            // Every row-split product through the shared-B, dynamically scheduled path (gemmShared),
            // also with many k and m blocks.
            "-Ddynalora.sgemm.sharedMinFlops=0",
            "-Ddynalora.sgemm.sharedMinFlops=0 -Ddynalora.sgemm.kc=16 -Ddynalora.sgemm.mc=8",
    })
    void otherConfigurationsInChildJvm(String args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("--add-modules=jdk.incubator.vector");
        cmd.add("-Xmx512m");
        boolean small = false;
        for (String a : args.split(" ")) {
            if (a.equals("small")) {
                small = true;
            } else {
                cmd.add(a);
            }
        }
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(SelfCheck.class.getName());
        if (small) {
            cmd.add("small");
        }
        File log = Files.createTempFile("sgemm-child", ".log").toFile();
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log).start();
            if (!p.waitFor(5, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                fail("child JVM timed out: " + args);
            }
            String out = new String(Files.readAllBytes(log.toPath()), StandardCharsets.UTF_8);
            assertEquals(0, p.exitValue(), "child JVM failed for " + args + ":\n" + out);
            assertTrue(out.contains("SELF-CHECK OK"), out);
        } finally {
            log.delete();
        }
    }

    /** Entry point of the child JVMs: the main checks, under whatever configuration the JVM was given. */
    public static final class SelfCheck {
        public static void main(String[] args) {
            boolean small = args.length > 0 && args[0].equals("small");
            System.out.println(CpuKernels.describe());
            SplittableRandom rnd = new SplittableRandom(123);
            try (CpuKernels k1 = new CpuKernels(1); CpuKernels k2 = new CpuKernels(2)) {
                for (int[] s : SHAPES) {
                    if (small && (long) s[0] * s[1] * s[2] > 40_000) {
                        continue;
                    }
                    for (int form = 0; form < 4; form++) {
                        boolean ta = form >= 2;
                        boolean tb = (form & 1) == 1;
                        check(k1, ta, tb, s[0], s[1], s[2], 0.75f, 0.5f, true, false, rnd);
                        check(k2, ta, tb, s[0], s[1], s[2], 1f, 0f, true, false, rnd);
                        check(k2, ta, tb, s[0], s[1], s[2], -2f, 1f, false, true, rnd);
                        // Bit-identical across thread counts.
                        int m = s[0];
                        int n = s[1];
                        int k = s[2];
                        float[] a = random(rnd, m * k);
                        float[] b = random(rnd, k * n);
                        float[] c1 = random(rnd, m * n);
                        float[] c2 = c1.clone();
                        k1.sgemm(ta, tb, m, n, k, 1.1f, a, 0, ta ? m : k, b, 0, tb ? k : n, 0.7f, c1, 0, n);
                        k2.sgemm(ta, tb, m, n, k, 1.1f, a, 0, ta ? m : k, b, 0, tb ? k : n, 0.7f, c2, 0, n);
                        if (!Arrays.equals(c1, c2)) {
                            throw new AssertionError("1 vs 2 threads differ for " + Arrays.toString(s));
                        }
                    }
                }
            }
            System.out.println("SELF-CHECK OK");
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------------

    /**
     * Runs one sgemm on kk and on the reference and compares. With {@code padded}, the operands sit at
     * offsets inside larger arrays with leading dimensions wider than the rows, and every float outside the
     * m x n window of C must come back unchanged.
     */
    static void check(Kernels kk, boolean ta, boolean tb, int m, int n, int k, float alpha, float beta,
                      boolean padded, boolean local, SplittableRandom rnd) {
        int aRows = ta ? k : m;
        int aCols = ta ? m : k;
        int bRows = tb ? n : k;
        int bCols = tb ? k : n;
        int lda = aCols + (padded ? 1 + rnd.nextInt(9) : 0);
        int ldb = bCols + (padded ? 1 + rnd.nextInt(9) : 0);
        int ldc = n + (padded ? 1 + rnd.nextInt(9) : 0);
        int aOff = padded ? rnd.nextInt(13) : 0;
        int bOff = padded ? rnd.nextInt(13) : 0;
        int cOff = padded ? rnd.nextInt(13) : 0;
        float[] a = random(rnd, aOff + Math.max(0, aRows * lda) + (padded ? 5 : 0));
        float[] b = random(rnd, bOff + Math.max(0, bRows * ldb) + (padded ? 5 : 0));
        float[] c = random(rnd, cOff + m * ldc + (padded ? 5 : 0));
        // Untouched padding in A/B must not leak into C: make it huge so any misuse shows.
        if (padded) {
            poisonOutside(a, aOff, aRows, aCols, lda, 1e30f);
            poisonOutside(b, bOff, bRows, bCols, ldb, 1e30f);
        }
        float[] expect = c.clone();
        float[] got = c.clone();
        REF.sgemm(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, expect, cOff, ldc);
        if (local) {
            kk.sgemmLocal(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, got, cOff, ldc);
        } else {
            kk.sgemm(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, got, cOff, ldc);
        }
        String what = (ta ? "T" : "N") + (tb ? "T" : "N") + " m=" + m + " n=" + n + " k=" + k + " alpha=" + alpha
                + " beta=" + beta + " lda=" + lda + " ldb=" + ldb + " ldc=" + ldc + " offs=" + aOff + "," + bOff
                + "," + cOff + " threads=" + kk.threads() + (local ? " local" : "");
        for (int i = 0; i < c.length; i++) {
            int rel = i - cOff;
            boolean inside = rel >= 0 && rel / ldc < m && rel % ldc < n;
            if (!inside && Float.floatToRawIntBits(got[i]) != Float.floatToRawIntBits(c[i])) {
                throw new AssertionError("wrote outside C at " + i + ": " + what);
            }
        }
        assertClose(expect, got, k, alpha, beta, what);
    }

    /**
     * Float32 tolerance, 1e-5 * sqrt(k) relative to the typical size of a result. Inputs are uniform in
     * [-1, 1), so a length-k dot product has magnitude about sqrt(k) / 3 and its float32 rounding error
     * grows like eps * k (random walk of the partial sums): orders of magnitude below this tolerance for any
     * summation order, while an indexing error (an O(1) relative error, or a 1e30 read from the padding)
     * is far above it.
     */
    static void assertClose(float[] expect, float[] got, int k, float alpha, float beta, String what) {
        double rk = Math.sqrt(Math.max(k, 1));
        double tol = 1e-5 * rk * (Math.abs(alpha) * rk + Math.abs(beta) + 1e-2);
        for (int i = 0; i < expect.length; i++) {
            double d = Math.abs((double) expect[i] - got[i]);
            if (!(d <= tol) && Float.floatToRawIntBits(expect[i]) != Float.floatToRawIntBits(got[i])) {
                throw new AssertionError(what + ": element " + i + " expected " + expect[i] + " got " + got[i]
                        + " (diff " + d + ", tol " + tol + ")");
            }
        }
    }

    static void poisonOutside(float[] x, int off, int rows, int cols, int ld, float v) {
        for (int i = 0; i < x.length; i++) {
            int rel = i - off;
            boolean inside = rel >= 0 && rel / ld < rows && rel % ld < cols;
            if (!inside) {
                x[i] = v;
            }
        }
    }

    static float[] random(SplittableRandom rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return x;
    }
}
