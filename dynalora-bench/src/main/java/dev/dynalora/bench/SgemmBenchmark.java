package dev.dynalora.bench;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import dev.dynalora.kernels.CpuKernels;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * SGEMM throughput of {@link CpuKernels} on the 2048^3 square and the MiniLM layer shapes (tokens x out x in
 * for a 4096-token batch: attention projections 384 -> 384, FFN down 1536 -> 384, FFN up 384 -> 1536), in
 * the NN form (forward: X W), NT (X W^T, as for weights stored [out, in]) and TN (the weight gradient
 * X^T dY). The score is milliseconds per call; {@link #main} runs the benchmark and prints GFLOP/s
 * (2 m n k / time) next to the FMA peak measured by {@link FmaPeak}.
 *
 * <p>Run with {@code bench/sgemm.sh}, or directly:
 * {@code java --add-modules jdk.incubator.vector -cp 'dynalora-bench/target/classes:dynalora-bench/target/lib/*'
 * org.openjdk.jmh.Main SgemmBenchmark} (scores only) or {@code ... dev.dynalora.bench.SgemmBenchmark [jmh options]}
 * (scores and the GFLOP/s table). {@code ... dev.dynalora.bench.SgemmBenchmark --cpu-time [seconds]} measures
 * the same cases outside JMH and also reports GFLOP per CPU-second, which is what to read on a shared
 * machine (see {@link #cpuTimeTable}).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 3, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xms2g", "-Xmx2g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 3, time = 1)
public class SgemmBenchmark {

    /** m x n x k. */
    @Param({"2048x2048x2048", "4096x384x384", "4096x384x1536", "4096x1536x384"})
    public String shape;

    /** op(A) op(B): N = as stored, T = transposed. */
    @Param({"NN", "NT", "TN"})
    public String form;

    @Param({"1", "2"})
    public int threads;

    private CpuKernels kernels;
    private int m;
    private int n;
    private int k;
    private boolean transA;
    private boolean transB;
    private float[] a;
    private float[] b;
    private float[] c;

    @Setup(Level.Trial)
    public void setUp() {
        int[] d = parseShape(shape);
        m = d[0];
        n = d[1];
        k = d[2];
        transA = form.charAt(0) == 'T';
        transB = form.charAt(1) == 'T';
        SplittableRandom rnd = new SplittableRandom(1);
        a = random(rnd, m * k);
        b = random(rnd, k * n);
        c = new float[m * n];
        kernels = new CpuKernels(threads);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        kernels.close();
    }

    @Benchmark
    public float[] sgemm() {
        kernels.sgemm(transA, transB, m, n, k, 1f, a, 0, transA ? m : k, b, 0, transB ? k : n, 0f, c, 0, n);
        return c;
    }

    /**
     * The machine's single-core FMA throughput as the Vector API reaches it: 12 independent FMA chains (more
     * than latency x ports on any current x86 core), no memory traffic. The score is nanoseconds for
     * {@link #FMA_ITERS} iterations of 12 FMAs of {@code SPECIES_PREFERRED} width.
     */
    @State(Scope.Thread)
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.NANOSECONDS)
    @Fork(value = 3, jvmArgsAppend = {"--add-modules=jdk.incubator.vector"})
    @Warmup(iterations = 3, time = 1)
    @Measurement(iterations = 3, time = 1)
    public static class FmaPeak {
        static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
        static final int FMA_ITERS = 100_000;
        static final int CHAINS = 12;

        public float x = 1f;

        @Benchmark
        public float fmaPeak() {
            FloatVector m = FloatVector.broadcast(S, 0.9999999f);
            FloatVector add = FloatVector.broadcast(S, 1e-7f);
            FloatVector v0 = FloatVector.broadcast(S, x);
            FloatVector v1 = v0.add(1f);
            FloatVector v2 = v0.add(2f);
            FloatVector v3 = v0.add(3f);
            FloatVector v4 = v0.add(4f);
            FloatVector v5 = v0.add(5f);
            FloatVector v6 = v0.add(6f);
            FloatVector v7 = v0.add(7f);
            FloatVector v8 = v0.add(8f);
            FloatVector v9 = v0.add(9f);
            FloatVector v10 = v0.add(10f);
            FloatVector v11 = v0.add(11f);
            for (int i = 0; i < FMA_ITERS; i++) {
                v0 = v0.fma(m, add);
                v1 = v1.fma(m, add);
                v2 = v2.fma(m, add);
                v3 = v3.fma(m, add);
                v4 = v4.fma(m, add);
                v5 = v5.fma(m, add);
                v6 = v6.fma(m, add);
                v7 = v7.fma(m, add);
                v8 = v8.fma(m, add);
                v9 = v9.fma(m, add);
                v10 = v10.fma(m, add);
                v11 = v11.fma(m, add);
            }
            return v0.add(v1).add(v2).add(v3).add(v4).add(v5).add(v6).add(v7).add(v8).add(v9).add(v10).add(v11)
                    .reduceLanes(VectorOperators.ADD);
        }

        static double gflops(double nanosPerOp) {
            return 2.0 * S.length() * CHAINS * FMA_ITERS / nanosPerOp;
        }
    }

    /** Nominal single-core peak the targets are stated against (GFLOP/s). */
    static final double NOMINAL_PEAK = 105.0;

    /**
     * Runs both benchmarks (JMH command-line options are passed through, e.g. {@code -f 1 -p threads=1}) and
     * prints a GFLOP/s table.
     */
    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("--cpu-time")) {
            cpuTimeTable(args.length > 1 ? Double.parseDouble(args[1]) : 3.0);
            return;
        }
        CommandLineOptions cmd = new CommandLineOptions(args);
        ChainedOptionsBuilder opts = new OptionsBuilder().parent(cmd);
        if (cmd.getIncludes().isEmpty()) {
            opts.include(SgemmBenchmark.class.getName());
        }
        Collection<RunResult> results = new Runner(opts.build()).run();

        double peak = Double.NaN;
        for (RunResult r : results) {
            if (r.getParams().getBenchmark().endsWith("fmaPeak")) {
                peak = FmaPeak.gflops(r.getPrimaryResult().getScore());
            }
        }
        List<String[]> rows = new ArrayList<>();
        for (RunResult r : results) {
            if (r.getParams().getBenchmark().endsWith("fmaPeak")) {
                continue;
            }
            String sh = r.getParams().getParam("shape");
            String fo = r.getParams().getParam("form");
            int th = Integer.parseInt(r.getParams().getParam("threads"));
            int[] d = parseShape(sh);
            double score = r.getPrimaryResult().getScore();
            double gflops = 2.0 * d[0] * d[1] * d[2] / (score * 1e6);
            double err = r.getPrimaryResult().getScoreError();
            String gflopsErr = Double.isNaN(err) ? "" : fmt("%.1f", gflops * err / score);
            String row = "| " + sh + " | " + fo + " | " + th + " | " + fmt("%.2f", score) + " | " + fmt("%.1f", gflops)
                    + " | " + gflopsErr + " | " + fmt("%.1f", gflops / th) + " | "
                    + fmt("%.0f%%", 100 * gflops / th / NOMINAL_PEAK) + " |"
                    + (Double.isNaN(peak) ? "" : " " + fmt("%.0f%%", 100 * gflops / th / peak) + " |");
            rows.add(new String[] {row});
        }
        System.out.println();
        System.out.println("SGEMM " + CpuKernels.describe() + ", JDK " + Runtime.version());
        if (!Double.isNaN(peak)) {
            System.out.println(fmt("Measured FMA peak (1 core, FmaPeak): %.1f GFLOP/s", peak));
        }
        System.out.println("| shape (m x n x k) | form | threads | ms/call | GFLOP/s | +- (99.9%) | GFLOP/s per core "
                + "| % of 105 GFLOP/s/core |" + (Double.isNaN(peak) ? "" : " % of measured peak/core |"));
        System.out.println("|---|---|---|---|---|---|---|---|" + (Double.isNaN(peak) ? "" : "---|"));
        for (String[] row : rows) {
            System.out.println(row[0]);
        }
    }

    /**
     * The same measurements outside JMH, also divided by the CPU time the process actually got. On a shared
     * machine (other jobs on the same cores), wall-clock GFLOP/s mostly measures how much of a core the
     * scheduler gave us; GFLOP per CPU-second factors the time slicing out (not the cache and memory
     * bandwidth that the other jobs also take). Worker spin-waiting counts as CPU time, so the 2-thread
     * figure per CPU-second includes the pool's overhead. Each configuration: warm-up, then repeated calls
     * for {@code seconds} of wall time.
     */
    static void cpuTimeTable(double seconds) {
        com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        FmaPeak fp = new FmaPeak();
        double peakCpu = 0;
        double peakWall = 0;
        for (int rep = 0; rep < 8; rep++) {
            long w0 = System.nanoTime();
            long c0 = mx.getCurrentThreadCpuTime();
            int calls = 0;
            while (System.nanoTime() - w0 < 250_000_000L) {
                fp.x += fp.fmaPeak() * 1e-30f;
                calls++;
            }
            long c1 = mx.getCurrentThreadCpuTime();
            long w1 = System.nanoTime();
            if (rep >= 2) { // the first two are warm-up
                peakCpu = Math.max(peakCpu, FmaPeak.gflops((double) (c1 - c0) / calls));
                peakWall = Math.max(peakWall, FmaPeak.gflops((double) (w1 - w0) / calls));
            }
        }
        System.out.println("SGEMM " + CpuKernels.describe() + ", JDK " + Runtime.version());
        System.out.println(fmt("FMA peak, 1 core: %.1f GFLOP/s wall-clock, %.1f GFLOP per CPU-second (best of 6 x 0.25 s)",
                peakWall, peakCpu));
        System.out.println("| shape (m x n x k) | form | threads | ms/call (wall) | GFLOP/s (wall) | GFLOP per CPU-second "
                + "(= per core) | % of 105 GFLOP/s/core | % of measured peak/core |");
        System.out.println("|---|---|---|---|---|---|---|---|");
        String[] shapes = {"2048x2048x2048", "4096x384x384", "4096x384x1536", "4096x1536x384"};
        String[] forms = {"NN", "NT", "TN"};
        for (String sh : shapes) {
            for (String fo : forms) {
                for (int th = 1; th <= 2; th++) {
                    SgemmBenchmark bm = new SgemmBenchmark();
                    bm.shape = sh;
                    bm.form = fo;
                    bm.threads = th;
                    bm.setUp();
                    try {
                        long end = System.nanoTime() + (long) (seconds * 0.5e9);
                        while (System.nanoTime() < end) {
                            bm.sgemm();
                        }
                        long w0 = System.nanoTime();
                        long c0 = os.getProcessCpuTime();
                        int calls = 0;
                        while (System.nanoTime() - w0 < seconds * 1e9) {
                            bm.sgemm();
                            calls++;
                        }
                        long c1 = os.getProcessCpuTime();
                        long w1 = System.nanoTime();
                        double flops = 2.0 * bm.m * bm.n * bm.k * calls;
                        double wall = flops / (w1 - w0);
                        double perCpu = flops / (c1 - c0);
                        System.out.println("| " + sh + " | " + fo + " | " + th + " | " + fmt("%.2f", (w1 - w0) / 1e6 / calls)
                                + " | " + fmt("%.1f", wall) + " | " + fmt("%.1f", perCpu) + " | "
                                + fmt("%.0f%%", 100 * perCpu / NOMINAL_PEAK) + " | " + fmt("%.0f%%", 100 * perCpu / peakCpu) + " |");
                    } finally {
                        bm.tearDown();
                    }
                }
            }
        }
    }

    static String fmt(String f, Object... args) {
        return String.format(Locale.ROOT, f, args);
    }

    static int[] parseShape(String s) {
        String[] p = s.split("x");
        return new int[] {Integer.parseInt(p[0]), Integer.parseInt(p[1]), Integer.parseInt(p[2])};
    }

    static float[] random(SplittableRandom rnd, int size) {
        float[] x = new float[size];
        for (int i = 0; i < size; i++) {
            x[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return x;
    }
}
