package dev.dynalora.cli;

import picocli.CommandLine.Command;

/**
 * dynalora bench: speed measurements that print one JSON line (forward, step), their side-by-side comparison with
 * the PyTorch reference (speed), and the GLUE accuracy grid (glue).
 */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks: forward, step and generation speed (one JSON line each), speed against PyTorch, the GLUE grid, load tests of serve.",
        subcommands = {BenchForwardCommand.class, BenchStepCommand.class, BenchGenerateCommand.class, BenchSpeedCommand.class, BenchGlueCommand.class, BenchServeCommand.class, BenchRandomAdaptersCommand.class})
final class BenchCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
