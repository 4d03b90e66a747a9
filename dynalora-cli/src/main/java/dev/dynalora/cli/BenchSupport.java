package dev.dynalora.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

/** Random inputs, timing and memory readings for the bench commands. */
final class BenchSupport {
    private BenchSupport() {
    }

    /** Token ids drawn uniformly from [1000, vocab), as the PyTorch reference draws them. */
    static int[] randomIds(int n, int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] ids = new int[n];
        // Above BERT's special and unused ids (below 1000) in a real vocabulary; above the usual BOS/EOS/pad ids
        // (0-2) in a small one such as stories260K's 512.
        int low = vocab > 2000 ? 1000 : Math.min(3, vocab - 1);
        for (int i = 0; i < n; i++) {
            ids[i] = low + r.nextInt(Math.max(1, vocab - low));
        }
        return ids;
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    /** Peak resident set size of this process in MiB (Linux VmHWM), or -1 where unavailable. */
    private static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();

    /**
     * CPU time this process has used, in nanoseconds (all threads, including the JIT and GC). On a shared
     * machine a step's CPU time varies much less than its wall time, which other tenants stretch.
     */
    static long processCpuNanos() {
        return OS.getProcessCpuTime();
    }

    static double peakRssMb() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    String kb = line.substring(6).trim().split("\\s+")[0];
                    return Math.round(Long.parseLong(kb) / 1024.0 * 10) / 10.0;
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    static double round(double v, int digits) {
        double f = Math.pow(10, digits);
        return Math.round(v * f) / f;
    }
}
