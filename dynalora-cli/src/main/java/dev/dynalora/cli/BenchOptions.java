package dev.dynalora.cli;

import dev.dynalora.UserInputException;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** Flags shared by the bench commands; the names and defaults follow ../shared/reference/torch_bert_lora.py. */
final class BenchOptions {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face model folder.")
    Path model;

    @Option(names = "--batch", defaultValue = "32", description = "Batch size. Default: ${DEFAULT-VALUE}.")
    int batch;

    @Option(names = "--seq", defaultValue = "128", description = "Sequence length. Default: ${DEFAULT-VALUE}.")
    int seq;

    @Option(names = "--steps", defaultValue = "20", description = "Timed steps. Default: ${DEFAULT-VALUE}.")
    int steps;

    @Option(names = "--warmup", defaultValue = "3", description = "Untimed warm-up steps. Default: ${DEFAULT-VALUE}.")
    int warmup;

    @Option(names = "--seed", defaultValue = "0", description = "Seed for the random token ids. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--json", description = "Print one JSON line (the default; kept for the documented command line).")
    boolean json;

    void validate() {
        if (batch < 1 || seq < 2 || steps < 1 || warmup < 0) {
            throw new UserInputException("--batch, --steps must be >= 1, --seq >= 2 and --warmup >= 0");
        }
    }
}
