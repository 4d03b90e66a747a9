package dev.dynalora.kernels;

import java.util.SplittableRandom;

/**
 * Where the SGEMM loses against the FMA peak: the micro-kernel alone, the micro-kernel over the GEMM's
 * blocks without packing, and the whole GEMM, on one thread, in alternating rounds in one JVM (best call of
 * each round). In the package of {@link CpuKernels} to call its package-private micro-kernel directly.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp 'dynalora-bench/target/classes:dynalora-bench/target/lib/*' \
 *     dev.dynalora.kernels.MicroKernelProbe [rounds]
 * </pre>
 *
 * <ul>
 *   <li><b>hot</b>: 32 A micro-panels (MR x KC) against one B micro-panel (KC x NR), every tile stored into the
 *       same C tile: everything in L1/L2, the kernel's own speed.</li>
 *   <li><b>blocks</b>: the same A panels against 64 B micro-panels, each tile stored into its place in a
 *       192 x 2048 C block (1.5 MB), as the GEMM's jr/ir loops do for one (ic, pc) block of a 2048^3 product,
 *       minus the packing.</li>
 *   <li><b>gemm</b>: the whole 2048 x 2048 x 2048 NN product through {@link CpuKernels#sgemm}, one thread.</li>
 * </ul>
 * Only meaningful with the 6 x 2-vector kernel (the 512-bit default).
 */
public final class MicroKernelProbe {
    private MicroKernelProbe() {
    }

    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 4;
        if (CpuKernels.MR != 6 || CpuKernels.NV != 2) {
            System.out.println("MicroKernelProbe needs the 6x2 micro-kernel; this JVM uses " + CpuKernels.describe());
            return;
        }
        int l = CpuKernels.L;
        int kc = CpuKernels.KC;
        int panels = 32;
        int nJr = 64;
        int ldc = nJr * 2 * l;
        SplittableRandom rnd = new SplittableRandom(1);
        float[] ap = random(rnd, panels * 6 * kc);
        float[] bp = random(rnd, nJr * kc * 2 * l);
        float[] cBlock = new float[panels * 6 * ldc];
        float[] tile = new float[6 * 2 * l + 2];
        tile[CpuKernels.TILE_ALPHA] = 1f;
        tile[CpuKernels.TILE_BETA] = 1f;
        int n = 2048;
        float[] a = random(rnd, n * n);
        float[] b = random(rnd, n * n);
        float[] c = new float[n * n];
        System.out.println("SGEMM " + CpuKernels.describe() + ", JDK " + Runtime.version());
        try (CpuKernels one = new CpuKernels(1)) {
            for (int round = 1; round <= rounds; round++) {
                long hot = Long.MAX_VALUE;
                for (int rep = 0; rep < 2000; rep++) {
                    long t0 = System.nanoTime();
                    for (int p = 0; p < panels; p++) {
                        CpuKernels.kernel6x2(kc, ap, p * 6 * kc, bp, 0, cBlock, 0, ldc, 6, 2 * l, tile);
                    }
                    hot = Math.min(hot, System.nanoTime() - t0);
                }
                long blocks = Long.MAX_VALUE;
                for (int rep = 0; rep < 40; rep++) {
                    long t0 = System.nanoTime();
                    for (int jr = 0; jr < nJr; jr++) {
                        for (int p = 0; p < panels; p++) {
                            CpuKernels.kernel6x2(kc, ap, p * 6 * kc, bp, jr * kc * 2 * l, cBlock, p * 6 * ldc + jr * 2 * l,
                                    ldc, 6, 2 * l, tile);
                        }
                    }
                    blocks = Math.min(blocks, System.nanoTime() - t0);
                }
                long gemm = Long.MAX_VALUE;
                for (int rep = 0; rep < 4; rep++) {
                    long t0 = System.nanoTime();
                    one.sgemm(false, false, n, n, n, 1f, a, 0, n, b, 0, n, 0f, c, 0, n);
                    gemm = Math.min(gemm, System.nanoTime() - t0);
                }
                double tileFlops = 2.0 * 6 * 2 * l * kc;
                System.out.printf(java.util.Locale.ROOT, "round %d: hot %.1f, blocks %.1f, gemm %.1f GFLOP/s%n", round,
                        tileFlops * panels / hot, tileFlops * panels * nJr / blocks, 2.0 * n * n * n / gemm);
            }
        }
    }

    private static float[] random(SplittableRandom rnd, int size) {
        float[] x = new float[size];
        for (int i = 0; i < size; i++) {
            x[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return x;
    }
}
