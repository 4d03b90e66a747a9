package dev.dynalora.cli;

import dev.dynalora.UserInputException;
import dev.dynalora.kernels.CpuKernels;
import picocli.CommandLine.Option;

/** The shared --threads flag and the compute backend it sizes. */
final class ThreadsOption {
    @Option(names = "--threads", paramLabel = "N", description = "Worker threads (default: all cores).")
    Integer threads;

    int resolve() {
        int n = threads == null ? Runtime.getRuntime().availableProcessors() : threads;
        if (n < 1 || n > 1024) {
            throw new UserInputException("--threads must be between 1 and 1024, got " + n);
        }
        return n;
    }

    CpuKernels kernels() {
        return new CpuKernels(resolve());
    }
}
