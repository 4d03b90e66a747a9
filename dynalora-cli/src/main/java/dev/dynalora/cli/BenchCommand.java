package dev.dynalora.cli;

import picocli.CommandLine.Command;

/** dynalora bench: speed measurements that print one JSON line, comparable with the PyTorch reference. */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Speed benchmarks (one JSON line each).",
        subcommands = {BenchForwardCommand.class, BenchStepCommand.class})
final class BenchCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
