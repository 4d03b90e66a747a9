package dev.dynalora.kernels;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

import dev.dynalora.kernels.vector.VectorKernels;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The default backend: a packed, register-blocked SGEMM on the Vector API (BLIS-style), a persistent fixed
 * thread pool, and the Vector API element-wise and row operations of {@link VectorKernels} (norms, softmax,
 * activations, dropout, losses, RoPE, AdamW, the adapters' work), which run their parallel loops on this pool.
 *
 * <h2>SGEMM structure</h2>
 * The classic five loops around a micro-kernel:
 * <pre>
 *   for jc in n step NC            B block  (KC x NC, packed; lives in L3)
 *     for pc in k step KC          k block  (never split across threads: results are deterministic)
 *       pack op(B)[pc.., jc..]     into NR-wide micro-panels, row p of a panel = NR consecutive floats
 *       for ic in m step MC        A block  (MC x KC, packed; lives in L2)
 *         pack op(A)[ic.., pc..]   into MR-tall micro-panels, column p of a panel = MR consecutive floats
 *         for jr in nc step NR     B micro-panel (KC x NR; stays in L1 while all A micro-panels stream past)
 *           for ir in mc step MR   micro-kernel: MR x NR tile of C held in vector registers
 * </pre>
 * Packing absorbs the four transpose combinations, so one micro-kernel serves NN, NT, TN and TT. Packed
 * panels are zero-padded to full MR/NR, so the micro-kernel always runs full tiles; only the write-back of
 * edge tiles (m or n not a multiple of MR/NR) goes through a small scratch tile.
 *
 * <h2>Micro-kernel choice (measured on a 2-core AMD EPYC Zen 3 VM: AVX2, 16 ymm registers)</h2>
 * Every C element is computed the same way whatever the kernel shape, tile position or thread split (the
 * same FMA sequence over k inside each k block, the same k blocks, edge tiles written with {@link Math#fma}
 * exactly like the vector path), so results depend only on (m, n, k) and the inputs: they are bit-identical
 * for any thread count.
 * <ul>
 *   <li>4 x 2 vectors (8 accumulators + 2 B vectors + 4 broadcasts = 14 registers even when C2 hoists every
 *       load to the top of the loop): spill-free on JDK 17 and 25, and C2 removes the bounds checks from
 *       its loop (22 instructions for 8 FMAs). Fastest inside the full GEMM on this machine, by a wide
 *       margin on JDK 17, and its NR = 16 suits attention's head dimension (n = 32 = 2 full panels). The
 *       default for vectors narrower than 512 bits.</li>
 *   <li>6 x 2 vectors (12 + 2 + 1 = 15 registers): the fastest in an isolated loop on JDK 17, but inside
 *       the GEMM C2 schedules two broadcasts at once and spills an accumulator (a store-forwarding chain
 *       every iteration: half speed); JDK 25 spills it too. The default for 512-bit vectors, where AVX-512's
 *       32 registers leave ample headroom. Measured later on an AVX-512 machine (an Intel Xeon VM, 2 cores,
 *       BENCHMARKS.md): 77 to 116 GFLOP/s on one thread over the benchmark shapes (JMH, JDK 25), against a
 *       measured FMA peak of 132 to 164. 4 x 2 and 3 x 3 at 512 bits timed there per CPU-second beside
 *       other jobs differed from 6 x 2 by up to about 50% either way from case to case, with no consistent
 *       winner: inside that machine's noise, so 6 x 2 stays.</li>
 *   <li>3 x 3 vectors (9 + 3 + 3 = 15): spill-free but its loop kept bounds checks on JDK 17 and it was
 *       slower than 4 x 2 in context; 4 x 3 (16 registers) always spilled; unrolling the k loop by hand
 *       made C2 spill on both JDKs.</li>
 * </ul>
 * <h2>Few rows: dot products</h2>
 * An A . B^T product with at most {@link #SMALL_M} rows (a decode step's projections, one row per sequence;
 * a cached attention query) skips all of the above and runs as dot products of contiguous rows
 * ({@link Gemv}), streaming B once; large ones are split over the rows of B across threads.
 *
 * {@code -Ddynalora.sgemm.kernel=4x2|6x2|3x3} forces a kernel and
 * {@code -Ddynalora.sgemm.vectorBits=128|256|512} the vector width (the tests use these to exercise every
 * kernel and width); {@code dynalora.sgemm.kc/mc/nc} override the block sizes for tuning.
 */
public final class CpuKernels extends VectorKernels implements AutoCloseable {

    static final VectorSpecies<Float> F = species();
    static final int L = F.length();
    static final int K4X2 = 0;
    static final int K6X2 = 1;
    static final int K3X3 = 2;
    /** Micro-kernel shape: {@link #K4X2}, {@link #K6X2} or {@link #K3X3}. */
    static final int KERNEL = kernelChoice();
    static final int MR = KERNEL == K6X2 ? 6 : KERNEL == K3X3 ? 3 : 4;
    static final int NV = KERNEL == K3X3 ? 3 : 2;
    static final int NR = NV * L;

    /**
     * k block: 512 (fewer for NR = 48). Each k block is one read-modify-write pass over C, and a C that does
     * not fit in cache (the 2048^2 and 4096 x 384 outputs) costs a cache miss per micro-tile per pass that
     * Java cannot prefetch away; so KC is large, even though the B micro-panel (KC x NR floats: 32 KB at
     * NR = 16, 64 KB at NR = 32) then overflows L1 (32 KB on Zen 3/4) and partly streams from L2. Measured
     * on 2048^3 and 4096 x 384 x 1536: on Zen 3 (AVX2, NR = 16) KC = 512 beat 256 in every paired run (by
     * 0-30%, on a shared machine); on Zen 4 (AVX-512, NR = 32; BENCHMARKS.md) KC = 512 gave 92-101 GFLOP/s
     * on one thread at 2048^3 against 88-92 for KC = 256 and 73-79 for KC = 128, with 768 and 1024 no
     * better. A k up to 1.5 KC is one block; larger k is split into equal blocks (k = 2048 -> 4 x 512)
     * rather than full ones plus a small remainder.
     */
    static final int KC = intProp("dynalora.sgemm.kc", Math.max(64, Math.min(512, 16384 / NR)));
    /**
     * m block. The packed A block (MC x KC floats) should sit in the per-core L2 (512 KB on Zen 3, 1 MB on
     * Zen 4) with room for the B micro-panels and C tiles passing through: about 192 KB, i.e. 96 rows at
     * KC = 512 (48, 96 and 192 were indistinguishable within this shared machine's noise).
     */
    static final int MC = roundUp(intProp("dynalora.sgemm.mc", Math.max(MR, 196_608 / (4 * KC))), MR);
    /**
     * n block. The packed B block (KC x NC) is shared by all A blocks and lives in L3: up to 8 MB, so
     * every model-sized n (<= 4096) is a single block and B is packed once per k block.
     */
    static final int NC = roundUp(intProp("dynalora.sgemm.nc", 4096), NR);

    /**
     * From this many flops a row-split product packs B once into a shared buffer and schedules row blocks
     * dynamically ({@link #gemmShared}); it costs one more wake-up of the workers than the fixed split.
     */
    static final double SHARED_MIN_FLOPS = intProp("dynalora.sgemm.sharedMinFlops", 1 << 24);
    /** Largest packed B (k x n rounded up to NR, in floats) the shared path holds: 64 MB. */
    static final long SHARED_B_MAX_FLOATS = 1L << 24;

    /** Below this many flops sgemm stays on the calling thread: waking a worker costs a few microseconds. */
    static final double PARALLEL_MIN_FLOPS = intProp("dynalora.sgemm.parallelMinFlops", 1 << 21);

    /**
     * Largest m that A . B^T products run as dot products ({@link Gemv}) rather than through the blocked
     * GEMM, whose packing of all of B and MR-row tiles cost more than they save for a few rows. Measured on
     * stories15M's decode step (BENCHMARKS.md, "Generation").
     */
    static final int SMALL_M = intProp("dynalora.sgemm.smallM", 8);
    /** Fewest elements of B (n x k) for which a {@link Gemv} product is split across threads. */
    static final long GEMV_PARALLEL_MIN = intProp("dynalora.sgemm.gemvParallelMin", 1 << 16);
    /** Elements of B per block of a parallel {@link Gemv} product. */
    static final int GEMV_BLOCK_FLOATS = 1 << 14;

    static final int TILE_ALPHA = MR * NR;
    static final int TILE_BETA = MR * NR + 1;

    private static final ThreadLocal<Workspace> WORKSPACE = ThreadLocal.withInitial(Workspace::new);

    private final int threads;
    private final int smallM;
    private final Pool pool;

    public CpuKernels(int threads) {
        this(threads, SMALL_M);
    }

    /**
     * @param smallM the most rows of A that an A . B^T product runs as dot products ({@link Gemv}); 0 sends
     *               every product through the blocked GEMM, whose result for an element depends only on k,
     *               never on m (tests use that to check that a KV-cache decode step computes bit for bit what
     *               a full forward pass computes; benchmarks to time the two paths side by side)
     */
    public CpuKernels(int threads, int smallM) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        if (smallM < 0) {
            throw new IllegalArgumentException("smallM must be >= 0, got " + smallM);
        }
        this.threads = threads;
        this.smallM = smallM;
        this.pool = threads > 1 ? new Pool(threads) : null;
    }

    @Override
    public int threads() {
        return threads;
    }

    private static final CpuKernels SERIAL = new CpuKernels(1);

    /**
     * A shared one-thread instance (it holds no pool, so it needs no closing): for the few callers that have
     * no backend at hand, such as a sampler's softmax over one row of logits.
     */
    public static CpuKernels serial() {
        return SERIAL;
    }

    /** Describes the compiled-in configuration (vector width, micro-kernel, block sizes). */
    public static String describe() {
        return "vector=" + L + "x float (" + F.vectorBitSize() + " bit), micro-kernel=" + MR + "x" + NR
                + " (" + MR + "x" + NV + " vectors), KC=" + KC + ", MC=" + MC + ", NC=" + NC;
    }

    @Override
    public void close() {
        if (pool != null && this != SERIAL) {
            pool.close();
        }
    }

    // ------------------------------------------------------------------------------------------------
    // SGEMM entry points
    // ------------------------------------------------------------------------------------------------

    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                      float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                      float beta, float[] c, int cOff, int ldc) {
        check(transA, transB, m, n, k, lda, ldb, ldc);
        if (usesGemv(transA, transB, m, n, k, alpha)) {
            gemvParallel(m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        if (pool == null || (double) 2 * m * n * k < PARALLEL_MIN_FLOPS || pool.isClosed()) {
            gemm(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        // Split C by rows or columns aligned to whole micro-tiles (the k reduction is never split, so every C
        // element gets the same arithmetic as in a single-threaded run). Rows are preferred: large products
        // then share one packed B and take row blocks dynamically (gemmShared); smaller ones give each thread
        // one fixed part, packing its own rows of A and (redundantly, but cheaply) all of B.
        int t = threads;
        int rowPanels = ceilDiv(m, MR);
        int colPanels = ceilDiv(n, NR);
        boolean splitRows = rowPanels >= 2 * t || rowPanels >= colPanels;
        int panels = splitRows ? rowPanels : colPanels;
        int parts = Math.min(t, panels);
        if (splitRows && parts > 1 && (double) 2 * m * n * k >= SHARED_MIN_FLOPS
                && (long) k * roundUp(n, NR) <= SHARED_B_MAX_FLOATS) {
            gemmShared(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        if (parts <= 1) {
            gemm(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        pool.run(parts, parts, (from, to) -> {
            for (int part = from; part < to; part++) {
                int p0 = (int) ((long) panels * part / parts);
                int p1 = (int) ((long) panels * (part + 1) / parts);
                if (splitRows) {
                    int i0 = p0 * MR;
                    int i1 = Math.min(m, p1 * MR);
                    if (i1 > i0) {
                        gemm(transA, transB, i1 - i0, n, k, alpha,
                                a, aOff + (transA ? i0 : i0 * lda), lda, b, bOff, ldb,
                                beta, c, cOff + i0 * ldc, ldc);
                    }
                } else {
                    int j0 = p0 * NR;
                    int j1 = Math.min(n, p1 * NR);
                    if (j1 > j0) {
                        gemm(transA, transB, m, j1 - j0, k, alpha,
                                a, aOff, lda, b, bOff + (transB ? j0 * ldb : j0), ldb,
                                beta, c, cOff + j0, ldc);
                    }
                }
            }
        });
    }

    @Override
    public void sgemmLocal(boolean transA, boolean transB, int m, int n, int k, float alpha,
                           float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                           float beta, float[] c, int cOff, int ldc) {
        check(transA, transB, m, n, k, lda, ldb, ldc);
        if (usesGemv(transA, transB, m, n, k, alpha)) {
            Gemv.run(m, 0, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        gemm(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
    }

    /**
     * Whether a product goes to {@link Gemv}: A . B^T (the form of every linear layer, W stored [out, in])
     * with at most {@code smallM} rows ({@link #SMALL_M} by default), as in a decode step (one row per sequence) or attention over a
     * KV cache (one query row).
     */
    private boolean usesGemv(boolean transA, boolean transB, int m, int n, int k, float alpha) {
        return !transA && transB && m > 0 && m <= smallM && n > 0 && k > 0 && alpha != 0f;
    }

    /**
     * {@link Gemv} split over the columns of C (rows of the weight matrix) in blocks,
     * when B is large enough to be worth waking the workers: each thread streams its own slice of B.
     */
    private void gemvParallel(int m, int n, int k, float alpha, float[] a, int aOff, int lda,
                              float[] b, int bOff, int ldb, float beta, float[] c, int cOff, int ldc) {
        // Blocks of about 64 KB of B, taken from a shared counter: a thread slowed by another process (this
        // machine is shared) takes fewer blocks instead of holding the whole product up.
        int rowsPerBlock = Math.max(Gemv.ROWS, GEMV_BLOCK_FLOATS / k);
        if (pool == null || n <= rowsPerBlock || (long) n * k < GEMV_PARALLEL_MIN || pool.isClosed()) {
            Gemv.run(m, 0, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        parallelForDynamic(n, rowsPerBlock, (from, to) ->
                Gemv.run(m, from, to, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc));
    }

    @Override
    public void parallelFor(int n, RangeBody body) {
        if (n <= 0) {
            return;
        }
        int chunks = Math.min(threads, n);
        if (pool == null || chunks == 1) {
            body.run(0, n);
            return;
        }
        pool.run(n, chunks, body);
    }

    @Override
    public void parallelForDynamic(int n, int block, RangeBody body) {
        if (block < 1) {
            throw new IllegalArgumentException("block must be >= 1, got " + block);
        }
        if (n <= 0) {
            return;
        }
        int blocks = ceilDiv(n, block);
        int chunks = Math.min(threads, blocks);
        if (pool == null || chunks == 1) {
            body.run(0, n);
            return;
        }
        AtomicInteger next = new AtomicInteger();
        pool.run(chunks, chunks, (t0, t1) -> {
            int blk;
            while ((blk = next.getAndIncrement()) < blocks) {
                int from = blk * block;
                body.run(from, Math.min(n, from + block));
            }
        });
    }

    private static void check(boolean transA, boolean transB, int m, int n, int k, int lda, int ldb, int ldc) {
        if (m < 0 || n < 0 || k < 0) {
            throw new IllegalArgumentException("negative dimension: m=" + m + " n=" + n + " k=" + k);
        }
        // Leading dimensions matter only for matrices that are read or written (an empty operand may come
        // with ld = 0).
        boolean badC = m > 0 && n > 0 && ldc < n;
        boolean badAB = m > 0 && n > 0 && k > 0 && (lda < (transA ? m : k) || ldb < (transB ? k : n));
        if (badC || badAB) {
            throw new IllegalArgumentException("leading dimension too small: lda=" + lda + " ldb=" + ldb
                    + " ldc=" + ldc + " for transA=" + transA + " transB=" + transB
                    + " m=" + m + " n=" + n + " k=" + k);
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Single-threaded blocked GEMM
    // ------------------------------------------------------------------------------------------------

    private static void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                             float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                             float beta, float[] c, int cOff, int ldc) {
        if (m == 0 || n == 0) {
            return;
        }
        if (k == 0 || alpha == 0f) {
            // BLAS semantics: op(A)*op(B) contributes nothing, A and B are not read.
            scale(m, n, beta, c, cOff, ldc);
            return;
        }
        // Equal-sized blocks: the split depends only on k, which keeps every element's arithmetic identical
        // however C is tiled across threads.
        int kBlocks = k <= KC + KC / 2 ? 1 : ceilDiv(k, KC);
        int kcMax = ceilDiv(k, kBlocks);
        int mBlocks = ceilDiv(m, MC);
        int mcMax = roundUp(ceilDiv(m, mBlocks), MR);
        int ncMax = Math.min(roundUp(n, NR), NC);

        Workspace ws = WORKSPACE.get();
        float[] ap = ws.packA(mcMax * kcMax);
        float[] bp = ws.packB(ncMax * kcMax);
        float[] tile = ws.tile;

        for (int jc = 0; jc < n; jc += NC) {
            int nc = Math.min(NC, n - jc);
            for (int pc = 0; pc < k; pc += kcMax) {
                int kc = Math.min(kcMax, k - pc);
                tile[TILE_ALPHA] = alpha;
                tile[TILE_BETA] = pc == 0 ? beta : 1f;
                packB(transB, b, bOff, ldb, pc, kc, jc, nc, bp, 0);
                for (int ic = 0; ic < m; ic += mcMax) {
                    int mc = Math.min(mcMax, m - ic);
                    if (direct(transA)) {
                        microTilesDirect(kc, mc, nc, a, aOff + ic * lda + pc, lda, ap, bp, 0, c, cOff + ic * ldc + jc, ldc, tile);
                    } else {
                        packA(transA, a, aOff, lda, ic, mc, pc, kc, ap);
                        microTiles(kc, mc, nc, ap, bp, 0, c, cOff + ic * ldc + jc, ldc, tile);
                    }
                }
            }
        }
    }

    /**
     * The multi-threaded path for large products split by rows: op(B) is packed once, by all threads
     * together, into a buffer they share, and then the threads take blocks of MC rows of C from a shared
     * counter until none are left (dynamic scheduling) instead of one fixed half each.
     *
     * <p>Why: with a fixed split the call lasts as long as its slowest thread, and on a shared or virtual
     * machine one core is often slowed for milliseconds at a time by something else (this project's
     * development VM drifts by tens of percent from second to second); with ~40 row blocks per call the
     * faster thread simply takes more of them. Sharing the packed B also removes the redundant per-thread
     * packing of B that the fixed split pays. Every C element still gets exactly the arithmetic of the
     * single-threaded {@link #gemm} (the same k blocks in the same order, the same micro-kernel), so results
     * stay bit-identical for any thread count and any schedule.
     */
    private void gemmShared(boolean transA, boolean transB, int m, int n, int k, float alpha,
                            float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                            float beta, float[] c, int cOff, int ldc) {
        int kBlocks = k <= KC + KC / 2 ? 1 : ceilDiv(k, KC);
        int kcMax = ceilDiv(k, kBlocks);
        int mBlocks = ceilDiv(m, MC);
        int mcMax = roundUp(ceilDiv(m, mBlocks), MR);
        int nPanels = ceilDiv(n, NR);
        int nPad = nPanels * NR;
        // k block pc occupies [pc * nPad, (pc + kc) * nPad) of the shared buffer, laid out as packB lays out
        // one k block of all n columns.
        float[] bp = WORKSPACE.get().shared(k * nPad);
        int packUnits = kBlocks * nPanels;
        pool.run(packUnits, Math.min(threads, packUnits), (u0, u1) -> {
            for (int u = u0; u < u1; u++) {
                int pc = (u / nPanels) * kcMax;
                int kc = Math.min(kcMax, k - pc);
                int j0 = (u % nPanels) * NR;
                packB(transB, b, bOff, ldb, pc, kc, j0, Math.min(NR, n - j0), bp, pc * nPad + j0 * kc);
            }
        });
        int rowBlocks = ceilDiv(m, mcMax);
        AtomicInteger next = new AtomicInteger();
        pool.run(threads, threads, (t0, t1) -> {
            Workspace ws = WORKSPACE.get();
            float[] ap = ws.packA(mcMax * kcMax);
            float[] tile = ws.tile;
            int blk;
            while ((blk = next.getAndIncrement()) < rowBlocks) {
                int ic = blk * mcMax;
                int mc = Math.min(mcMax, m - ic);
                for (int pc = 0; pc < k; pc += kcMax) {
                    int kc = Math.min(kcMax, k - pc);
                    tile[TILE_ALPHA] = alpha;
                    tile[TILE_BETA] = pc == 0 ? beta : 1f;
                    if (direct(transA)) {
                        microTilesDirect(kc, mc, n, a, aOff + ic * lda + pc, lda, ap, bp, pc * nPad, c, cOff + ic * ldc, ldc, tile);
                    } else {
                        packA(transA, a, aOff, lda, ic, mc, pc, kc, ap);
                        microTiles(kc, mc, n, ap, bp, pc * nPad, c, cOff + ic * ldc, ldc, tile);
                    }
                }
            }
        });
    }

    /**
     * Runs the micro-kernel over one packed A block (mc rows) against packed B panels covering n columns
     * (panel q at {@code bpOff + q * NR * kc}); C's block starts at {@code co}.
     */
    /**
     * Whether A is read where it lies instead of packed: op(A) = A (each row contiguous in k) with the 6 x 2
     * kernel. Packing A cost about 15% of a BERT LoRA training step on one thread (a scattering copy of every
     * activation that enters a product, for each product); the direct kernel broadcasts the MR values of a k
     * step from MR rows of A instead of from one packed panel, performing the same FMAs in the same order, so
     * results are bit-identical either way. {@code -Ddynalora.sgemm.directA=false} packs as before.
     */
    static final boolean DIRECT_A = KERNEL == K6X2 && Boolean.parseBoolean(System.getProperty("dynalora.sgemm.directA", "true"));

    private static boolean direct(boolean transA) {
        return DIRECT_A && !transA;
    }

    /**
     * {@link #microTiles} with A read in place: rows [0, mc) of the block start at {@code a[ao]}, row stride
     * lda. Full MR-row panels go to the direct kernel; a last partial panel is packed (zero-padded) into ap
     * and goes through the packed kernel, as before.
     */
    private static void microTilesDirect(int kc, int mc, int n, float[] a, int ao, int lda, float[] ap, float[] bp,
                                         int bpOff, float[] c, int co, int ldc, float[] tile) {
        int full = mc / MR * MR;
        if (full < mc) {
            packA(false, a, ao + full * lda, lda, 0, mc - full, 0, kc, ap);
        }
        for (int jr = 0; jr < n; jr += NR) {
            int nr = Math.min(NR, n - jr);
            int cj = co + jr;
            int bo = bpOff + jr * kc;
            for (int ir = 0; ir < full; ir += MR) {
                kernel6x2Direct(kc, a, ao + ir * lda, lda, bp, bo, c, cj + ir * ldc, ldc, nr, tile);
            }
            if (full < mc) {
                kernel6x2(kc, ap, 0, bp, bo, c, cj + full * ldc, ldc, mc - full, nr, tile);
            }
        }
    }

    private static void microTiles(int kc, int mc, int n, float[] ap, float[] bp, int bpOff,
                                   float[] c, int co, int ldc, float[] tile) {
        for (int jr = 0; jr < n; jr += NR) {
            int nr = Math.min(NR, n - jr);
            int cj = co + jr;
            int bo = bpOff + jr * kc;
            for (int ir = 0; ir < mc; ir += MR) {
                int mr = Math.min(MR, mc - ir);
                if (KERNEL == K4X2) {
                    kernel4x2(kc, ap, ir * kc, bp, bo, c, cj + ir * ldc, ldc, mr, nr, tile);
                } else if (KERNEL == K6X2) {
                    kernel6x2(kc, ap, ir * kc, bp, bo, c, cj + ir * ldc, ldc, mr, nr, tile);
                } else {
                    kernel3x3(kc, ap, ir * kc, bp, bo, c, cj + ir * ldc, ldc, mr, nr, tile);
                }
            }
        }
    }

    /** C = beta * C (beta == 0 overwrites with zeros, ignoring NaN). */
    private static void scale(int m, int n, float beta, float[] c, int cOff, int ldc) {
        if (beta == 1f) {
            return;
        }
        for (int i = 0; i < m; i++) {
            int row = cOff + i * ldc;
            if (beta == 0f) {
                java.util.Arrays.fill(c, row, row + n, 0f);
            } else {
                for (int j = 0; j < n; j++) {
                    c[row + j] *= beta;
                }
            }
        }
    }

    /**
     * Packs rows [i0, i0 + mc) and columns [p0, p0 + kc) of op(A) into MR-row micro-panels: panel q holds
     * rows i0 + q*MR .. +MR, laid out column by column (MR consecutive floats per k step), rows past mc
     * zero-filled. Panel q starts at q * MR * kc.
     */
    static void packA(boolean transA, float[] a, int aOff, int lda, int i0, int mc, int p0, int kc, float[] ap) {
        if (transA) {
            packATransposed(a, aOff, lda, i0, mc, p0, kc, ap);
            return;
        }
        for (int ir = 0; ir < mc; ir += MR) {
            int mr = Math.min(MR, mc - ir);
            int base = ir * kc;
            if (mr == MR && (MR == 6 || MR == 4)) {
                packFullPanel(a, aOff + (i0 + ir) * lda + p0, lda, kc, ap, base);
                continue;
            }
            // op(A)(i, p) = a[i*lda + p]: each row is contiguous in p; scatter it with stride MR.
            for (int r = 0; r < mr; r++) {
                int src = aOff + (i0 + ir + r) * lda + p0;
                int dst = base + r;
                for (int p = 0; p < kc; p++) {
                    ap[dst + p * MR] = a[src + p];
                }
            }
            for (int r = mr; r < MR; r++) {
                for (int p = 0; p < kc; p++) {
                    ap[base + p * MR + r] = 0f;
                }
            }
        }
    }

    /**
     * One full MR-row panel of packA (no transpose), written in order: k step by k step, the MR rows' values
     * side by side. Writing sequentially while reading MR row streams measured about 30% faster than scattering
     * each row with stride MR (0.55 against 0.76 ns per float on Zen 4, a 96 x 384 block of a 4096 x 384
     * activation), and the same floats land in the same places.
     */
    private static void packFullPanel(float[] a, int s0, int lda, int kc, float[] ap, int base) {
        int s1 = s0 + lda;
        int s2 = s1 + lda;
        int s3 = s2 + lda;
        if (MR == 4) {
            for (int p = 0; p < kc; p++) {
                int d = base + p * 4;
                ap[d] = a[s0 + p];
                ap[d + 1] = a[s1 + p];
                ap[d + 2] = a[s2 + p];
                ap[d + 3] = a[s3 + p];
            }
            return;
        }
        int s4 = s3 + lda;
        int s5 = s4 + lda;
        for (int p = 0; p < kc; p++) {
            int d = base + p * 6;
            ap[d] = a[s0 + p];
            ap[d + 1] = a[s1 + p];
            ap[d + 2] = a[s2 + p];
            ap[d + 3] = a[s3 + p];
            ap[d + 4] = a[s4 + p];
            ap[d + 5] = a[s5 + p];
        }
    }

    /**
     * packA for op(A) = A^T: op(A)(i, p) = a[p*lda + i], so stored row p holds the MR values of k step p for
     * every panel. Walking the stored rows in order touches one page per k step; going panel by panel (kc
     * rows each) touched kc pages per panel and was TLB-bound when lda is large (A^T of a [tokens, hidden]
     * activation has lda = tokens). Each panel's MR floats are copied with one vector (L >= MR); the L - MR
     * surplus lands in the same panel's next k-step slot, which is overwritten on the next k step, and the
     * copy is scalar where the surplus would leave the panel (or the read would leave the array).
     */
    static void packATransposed(float[] a, int aOff, int lda, int i0, int mc, int p0, int kc, float[] ap) {
        int full = mc / MR;
        int panel = MR * kc;
        for (int p = 0; p < kc; p++) {
            int s = aOff + (p0 + p) * lda + i0;
            int d = p * MR;
            if (L >= MR && full > 0 && d + L <= panel && s + (full - 1) * MR + L <= a.length) {
                for (int q = 0; q < full; q++) {
                    FloatVector.fromArray(F, a, s + q * MR).intoArray(ap, d + q * panel);
                }
            } else {
                for (int q = 0; q < full; q++) {
                    for (int r = 0; r < MR; r++) {
                        ap[d + q * panel + r] = a[s + q * MR + r];
                    }
                }
            }
        }
        int mr = mc - full * MR;
        if (mr > 0) {
            int base = full * panel;
            for (int p = 0; p < kc; p++) {
                int s = aOff + (p0 + p) * lda + i0 + full * MR;
                int d = base + p * MR;
                for (int r = 0; r < mr; r++) {
                    ap[d + r] = a[s + r];
                }
                for (int r = mr; r < MR; r++) {
                    ap[d + r] = 0f;
                }
            }
        }
    }

    /**
     * Packs rows [p0, p0 + kc) and columns [j0, j0 + nc) of op(B) into NR-column micro-panels: panel q
     * holds columns j0 + q*NR .. +NR, laid out row by row (NR consecutive floats per k step), columns past
     * nc zero-filled. Panel q starts at bpOff + q * NR * kc.
     */
    static void packB(boolean transB, float[] b, int bOff, int ldb, int p0, int kc, int j0, int nc,
                      float[] bp, int bpOff) {
        for (int jr = 0; jr < nc; jr += NR) {
            int nr = Math.min(NR, nc - jr);
            int base = bpOff + jr * kc;
            if (!transB) {
                // op(B)(p, j) = b[p*ldb + j]: NR contiguous floats per k step.
                int src = bOff + p0 * ldb + j0 + jr;
                if (nr == NR) {
                    for (int p = 0; p < kc; p++) {
                        int s = src + p * ldb;
                        int d = base + p * NR;
                        for (int v = 0; v < NR; v += L) {
                            FloatVector.fromArray(F, b, s + v).intoArray(bp, d + v);
                        }
                    }
                } else {
                    for (int p = 0; p < kc; p++) {
                        int d = base + p * NR;
                        System.arraycopy(b, src + p * ldb, bp, d, nr);
                        java.util.Arrays.fill(bp, d + nr, d + NR, 0f);
                    }
                }
            } else {
                // op(B)(p, j) = b[j*ldb + p]: each source row is one packed column; scatter with stride NR.
                for (int cc = 0; cc < nr; cc++) {
                    int src = bOff + (j0 + jr + cc) * ldb + p0;
                    int dst = base + cc;
                    for (int p = 0; p < kc; p++) {
                        bp[dst + p * NR] = b[src + p];
                    }
                }
                for (int cc = nr; cc < NR; cc++) {
                    for (int p = 0; p < kc; p++) {
                        bp[base + cc + p * NR] = 0f;
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Micro-kernels. The accumulators are separate locals (not an array) so C2 keeps them in registers;
    // the k loop is deliberately not unrolled by hand (that made C2 spill on both JDK 17 and 25).
    // ------------------------------------------------------------------------------------------------

    /** C[6 x 2L] (= alpha * Ap * Bp + beta * C): the 512-bit default; see the class comment. */
    static void kernel6x2(int kc, float[] ap, int ao, float[] bp, int bo, float[] c, int co, int ldc,
                          int mr, int nr, float[] tile) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
        FloatVector c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        for (int p = 0; p < kc; p++) {
            int ai = ao + p * 6;
            int bi = bo + p * (2 * L);
            FloatVector b0 = FloatVector.fromArray(F, bp, bi);
            FloatVector b1 = FloatVector.fromArray(F, bp, bi + L);
            FloatVector av = FloatVector.broadcast(F, ap[ai]);
            c00 = av.fma(b0, c00);
            c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(F, ap[ai + 1]);
            c10 = av.fma(b0, c10);
            c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(F, ap[ai + 2]);
            c20 = av.fma(b0, c20);
            c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(F, ap[ai + 3]);
            c30 = av.fma(b0, c30);
            c31 = av.fma(b1, c31);
            av = FloatVector.broadcast(F, ap[ai + 4]);
            c40 = av.fma(b0, c40);
            c41 = av.fma(b1, c41);
            av = FloatVector.broadcast(F, ap[ai + 5]);
            c50 = av.fma(b0, c50);
            c51 = av.fma(b1, c51);
        }
        // alpha and beta travel in the scratch array rather than as float parameters: a float parameter
        // that is live across the k loop takes one of the 16 vector registers and made C2 spill an
        // accumulator. They are read in storeTile.
        // Accumulators go through the L1-resident scratch tile for every tile (see storeTile).
        int s = 2 * L;
        c00.intoArray(tile, 0);
        c01.intoArray(tile, L);
        c10.intoArray(tile, s);
        c11.intoArray(tile, s + L);
        c20.intoArray(tile, 2 * s);
        c21.intoArray(tile, 2 * s + L);
        c30.intoArray(tile, 3 * s);
        c31.intoArray(tile, 3 * s + L);
            c40.intoArray(tile, 4 * s);
            c41.intoArray(tile, 4 * s + L);
            c50.intoArray(tile, 5 * s);
            c51.intoArray(tile, 5 * s + L);
        storeTile(tile, s, c, co, ldc, mr, nr, 6, 2);
    }

    /**
     * {@link #kernel6x2} for a full panel of 6 rows of A read in place (row r at a[ao + r * lda], k step p at
     * + p): the same FMAs in the same order.
     */
    static void kernel6x2Direct(int kc, float[] a, int ao, int lda, float[] bp, int bo, float[] c, int co, int ldc,
                                int nr, float[] tile) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
        FloatVector c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        int a0 = ao;
        int a1 = a0 + lda;
        int a2 = a1 + lda;
        int a3 = a2 + lda;
        int a4 = a3 + lda;
        int a5 = a4 + lda;
        for (int p = 0; p < kc; p++) {
            int bi = bo + p * (2 * L);
            FloatVector b0 = FloatVector.fromArray(F, bp, bi);
            FloatVector b1 = FloatVector.fromArray(F, bp, bi + L);
            FloatVector av = FloatVector.broadcast(F, a[a0 + p]);
            c00 = av.fma(b0, c00);
            c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(F, a[a1 + p]);
            c10 = av.fma(b0, c10);
            c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(F, a[a2 + p]);
            c20 = av.fma(b0, c20);
            c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(F, a[a3 + p]);
            c30 = av.fma(b0, c30);
            c31 = av.fma(b1, c31);
            av = FloatVector.broadcast(F, a[a4 + p]);
            c40 = av.fma(b0, c40);
            c41 = av.fma(b1, c41);
            av = FloatVector.broadcast(F, a[a5 + p]);
            c50 = av.fma(b0, c50);
            c51 = av.fma(b1, c51);
        }
        int s = 2 * L;
        c00.intoArray(tile, 0);
        c01.intoArray(tile, L);
        c10.intoArray(tile, s);
        c11.intoArray(tile, s + L);
        c20.intoArray(tile, 2 * s);
        c21.intoArray(tile, 2 * s + L);
        c30.intoArray(tile, 3 * s);
        c31.intoArray(tile, 3 * s + L);
        c40.intoArray(tile, 4 * s);
        c41.intoArray(tile, 4 * s + L);
        c50.intoArray(tile, 5 * s);
        c51.intoArray(tile, 5 * s + L);
        storeTile(tile, s, c, co, ldc, 6, nr, 6, 2);
    }

    /** C[3 x 3L] (= alpha * Ap * Bp + beta * C), full tiles written with vectors, edges via {@code tile}. */
    static void kernel3x3(int kc, float[] ap, int ao, float[] bp, int bo, float[] c, int co, int ldc,
                          int mr, int nr, float[] tile) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c02 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00, c20 = c00, c21 = c00, c22 = c00;
        for (int p = 0; p < kc; p++) {
            int ai = ao + p * 3;
            int bi = bo + p * (3 * L);
            FloatVector b0 = FloatVector.fromArray(F, bp, bi);
            FloatVector b1 = FloatVector.fromArray(F, bp, bi + L);
            FloatVector b2 = FloatVector.fromArray(F, bp, bi + 2 * L);
            FloatVector av = FloatVector.broadcast(F, ap[ai]);
            c00 = av.fma(b0, c00);
            c01 = av.fma(b1, c01);
            c02 = av.fma(b2, c02);
            av = FloatVector.broadcast(F, ap[ai + 1]);
            c10 = av.fma(b0, c10);
            c11 = av.fma(b1, c11);
            c12 = av.fma(b2, c12);
            av = FloatVector.broadcast(F, ap[ai + 2]);
            c20 = av.fma(b0, c20);
            c21 = av.fma(b1, c21);
            c22 = av.fma(b2, c22);
        }
        // Accumulators go through the L1-resident scratch tile for every tile (see storeTile).
        int s = 3 * L;
            c00.intoArray(tile, 0);
            c01.intoArray(tile, L);
            c02.intoArray(tile, 2 * L);
            c10.intoArray(tile, s);
            c11.intoArray(tile, s + L);
            c12.intoArray(tile, s + 2 * L);
            c20.intoArray(tile, 2 * s);
            c21.intoArray(tile, 2 * s + L);
            c22.intoArray(tile, 2 * s + 2 * L);
        storeTile(tile, s, c, co, ldc, mr, nr, 3, 3);
    }

    /** C[4 x 2L] (= alpha * Ap * Bp + beta * C), full tiles written with vectors, edges via {@code tile}. */
    static void kernel4x2(int kc, float[] ap, int ao, float[] bp, int bo, float[] c, int co, int ldc,
                          int mr, int nr, float[] tile) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c10 = c00, c11 = c00;
        FloatVector c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        for (int p = 0; p < kc; p++) {
            int ai = ao + p * 4;
            int bi = bo + p * (2 * L);
            FloatVector b0 = FloatVector.fromArray(F, bp, bi);
            FloatVector b1 = FloatVector.fromArray(F, bp, bi + L);
            FloatVector av = FloatVector.broadcast(F, ap[ai]);
            c00 = av.fma(b0, c00);
            c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(F, ap[ai + 1]);
            c10 = av.fma(b0, c10);
            c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(F, ap[ai + 2]);
            c20 = av.fma(b0, c20);
            c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(F, ap[ai + 3]);
            c30 = av.fma(b0, c30);
            c31 = av.fma(b1, c31);
        }
        // Accumulators go through the L1-resident scratch tile for every tile (see storeTile).
        int s = 2 * L;
        c00.intoArray(tile, 0);
        c01.intoArray(tile, L);
        c10.intoArray(tile, s);
        c11.intoArray(tile, s + L);
        c20.intoArray(tile, 2 * s);
        c21.intoArray(tile, 2 * s + L);
        c30.intoArray(tile, 3 * s);
        c31.intoArray(tile, 3 * s + L);
        storeTile(tile, s, c, co, ldc, mr, nr, 4, 2);
    }

    /**
     * C tile = alpha * tile + beta * C, from the accumulators the micro-kernel left in {@code tile}
     * (row stride {@code s}). Full tiles use vectors, edges the scalar twin below.
     *
     * <p>Why the detour through the scratch: an earlier version stored each accumulator through a
     * helper taking the {@code FloatVector} as a parameter. On JDK 17, once the GELU and attention
     * kernels had warmed up, C2 stopped inlining that helper into the micro-kernel and boxed one vector
     * per call (about 1 GB of garbage per training step, measured with JFR). No vector crosses a call
     * here; the 2 x MR x NV extra L1 accesses are noise against the kc x MR x NV FMAs of the tile.
     * The result is c = fma(acc, alpha, beta * c) (beta 0 and 1 special-cased), the same float
     * operations as the scalar edge path, so every element gets the same result wherever it falls.
     */
    private static void storeTile(float[] tile, int s, float[] c, int co, int ldc, int mr, int nr,
                                  int fullRows, int fullVectors) {
        float alpha = tile[TILE_ALPHA];
        float beta = tile[TILE_BETA];
        if (mr != fullRows || nr != fullVectors * L) {
            storeEdge(tile, s, c, co, ldc, alpha, beta, mr, nr);
            return;
        }
        FloatVector av = FloatVector.broadcast(F, alpha);
        for (int r = 0; r < fullRows; r++) {
            int t = r * s;
            int ci = co + r * ldc;
            for (int v = 0; v < fullVectors; v++) {
                FloatVector acc = FloatVector.fromArray(F, tile, t + v * L);
                if (beta == 0f) {
                    acc.mul(av).intoArray(c, ci + v * L);
                } else if (beta == 1f) {
                    acc.fma(av, FloatVector.fromArray(F, c, ci + v * L)).intoArray(c, ci + v * L);
                } else {
                    acc.fma(av, FloatVector.fromArray(F, c, ci + v * L).mul(beta)).intoArray(c, ci + v * L);
                }
            }
        }
    }

    private static void storeEdge(float[] tile, int stride, float[] c, int co, int ldc,
                                  float alpha, float beta, int mr, int nr) {
        for (int r = 0; r < mr; r++) {
            int t = r * stride;
            int ci = co + r * ldc;
            if (beta == 0f) {
                for (int j = 0; j < nr; j++) {
                    c[ci + j] = tile[t + j] * alpha;
                }
            } else if (beta == 1f) {
                for (int j = 0; j < nr; j++) {
                    c[ci + j] = Math.fma(tile[t + j], alpha, c[ci + j]);
                }
            } else {
                for (int j = 0; j < nr; j++) {
                    c[ci + j] = Math.fma(tile[t + j], alpha, c[ci + j] * beta);
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Per-thread packing buffers: grown on demand and reused, so the hot path allocates nothing.
    // ------------------------------------------------------------------------------------------------

    private static final class Workspace {
        private float[] a = new float[0];
        private float[] b = new float[0];
        private float[] shared = new float[0];
        /** Edge-tile scratch (MR x NR) followed by alpha and beta for the micro-kernel. */
        final float[] tile = new float[MR * NR + 2];

        float[] packA(int size) {
            if (a.length < size) {
                a = new float[size];
            }
            return a;
        }

        float[] packB(int size) {
            if (b.length < size) {
                b = new float[size];
            }
            return b;
        }

        /** The packed B that {@link #gemmShared} shares with the workers (owned by the calling thread). */
        float[] shared(int size) {
            if (shared.length < size) {
                shared = new float[size];
            }
            return shared;
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Persistent pool: threads - 1 daemon workers; the calling thread runs chunk 0. Workers spin briefly
    // after a task (back-to-back kernel calls are the common case in training) and then park.
    // ------------------------------------------------------------------------------------------------

    private static final long SPIN_NANOS = 50_000;

    private static final class Pool {
        private final Worker[] workers;
        private final AtomicBoolean busy = new AtomicBoolean();
        private final AtomicInteger pending = new AtomicInteger();
        private final AtomicReference<Throwable> error = new AtomicReference<>();
        private volatile boolean closed;
        private volatile Thread caller;
        // The task; published to the workers by the volatile write of Worker.generation.
        private RangeBody body;
        private int n;
        private int chunks;

        Pool(int threads) {
            workers = new Worker[threads - 1];
            for (int i = 0; i < workers.length; i++) {
                workers[i] = new Worker(this, i + 1);
                workers[i].start();
            }
        }

        boolean isClosed() {
            return closed;
        }

        static int bound(int n, int chunks, int chunk) {
            return (int) ((long) n * chunk / chunks);
        }

        /** Runs body over [0, n) in {@code chunks} contiguous chunks (chunks <= workers + 1). */
        void run(int n, int chunks, RangeBody body) {
            if (closed || !busy.compareAndSet(false, true)) {
                // Nested call from inside a parallel body, a concurrent caller, or a closed pool: run the
                // same chunks serially on this thread (same split, so the same results).
                for (int ch = 0; ch < chunks; ch++) {
                    int from = bound(n, chunks, ch);
                    int to = bound(n, chunks, ch + 1);
                    if (to > from) {
                        body.run(from, to);
                    }
                }
                return;
            }
            try {
                this.body = body;
                this.n = n;
                this.chunks = chunks;
                this.caller = Thread.currentThread();
                error.set(null);
                pending.set(chunks - 1);
                for (int w = 0; w < chunks - 1; w++) {
                    Worker worker = workers[w];
                    worker.generation = worker.generation + 1; // volatile write publishes the task
                    LockSupport.unpark(worker);
                }
                Throwable own = null;
                try {
                    int to = bound(n, chunks, 1);
                    if (to > 0) {
                        body.run(0, to);
                    }
                } catch (Throwable t) {
                    own = t;
                }
                long start = System.nanoTime();
                while (pending.get() != 0) {
                    if (System.nanoTime() - start < SPIN_NANOS) {
                        Thread.onSpinWait();
                    } else {
                        LockSupport.park(this);
                    }
                }
                Throwable t = own != null ? own : error.get();
                if (t != null) {
                    if (t instanceof RuntimeException) {
                        throw (RuntimeException) t;
                    }
                    if (t instanceof Error) {
                        throw (Error) t;
                    }
                    throw new RuntimeException(t);
                }
            } finally {
                this.body = null;
                busy.set(false);
            }
        }

        void runChunk(int chunk) {
            try {
                int from = bound(n, chunks, chunk);
                int to = bound(n, chunks, chunk + 1);
                if (to > from) {
                    body.run(from, to);
                }
            } catch (Throwable t) {
                error.compareAndSet(null, t);
            } finally {
                if (pending.decrementAndGet() == 0) {
                    LockSupport.unpark(caller);
                }
            }
        }

        void close() {
            closed = true;
            for (Worker w : workers) {
                LockSupport.unpark(w);
            }
        }
    }

    private static final class Worker extends Thread {
        private final Pool pool;
        private final int chunk;
        volatile long generation;

        Worker(Pool pool, int chunk) {
            super("dynalora-kernels-" + chunk);
            this.pool = pool;
            this.chunk = chunk;
            setDaemon(true);
        }

        @Override
        public void run() {
            long seen = 0;
            while (true) {
                long g;
                long start = System.nanoTime();
                while ((g = generation) == seen) {
                    if (pool.closed) {
                        return;
                    }
                    if (System.nanoTime() - start < SPIN_NANOS) {
                        Thread.onSpinWait();
                    } else {
                        LockSupport.park(this);
                    }
                }
                seen = g;
                pool.runChunk(chunk);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Configuration
    // ------------------------------------------------------------------------------------------------

    private static VectorSpecies<Float> species() {
        String bits = System.getProperty("dynalora.sgemm.vectorBits");
        if (bits == null || bits.isEmpty()) {
            return FloatVector.SPECIES_PREFERRED;
        }
        switch (bits.trim()) {
            case "64":
                return FloatVector.SPECIES_64;
            case "128":
                return FloatVector.SPECIES_128;
            case "256":
                return FloatVector.SPECIES_256;
            case "512":
                return FloatVector.SPECIES_512;
            default:
                throw new IllegalArgumentException("dynalora.sgemm.vectorBits must be 64, 128, 256 or 512: " + bits);
        }
    }

    private static int kernelChoice() {
        String k = System.getProperty("dynalora.sgemm.kernel");
        if (k != null && !k.isEmpty()) {
            switch (k.trim()) {
                case "6x2":
                    return K6X2;
                case "3x3":
                    return K3X3;
                case "4x2":
                    return K4X2;
                default:
                    throw new IllegalArgumentException("dynalora.sgemm.kernel must be 6x2, 3x3 or 4x2: " + k);
            }
        }
        // 512-bit vectors imply AVX-512's 32 registers: 6x2 has room to spare. With 16 registers 6x2
        // spills inside the GEMM and 4x2 does not (see the class comment).
        return F.vectorBitSize() >= 512 ? K6X2 : K4X2;
    }

    private static int intProp(String name, int def) {
        String v = System.getProperty(name);
        return v == null || v.isEmpty() ? def : Integer.parseInt(v.trim());
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    private static int roundUp(int a, int b) {
        return ceilDiv(a, b) * b;
    }
}
