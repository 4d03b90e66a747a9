package dev.dynalora.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.UserInputException;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.cli.bench.FlopModel;
import dev.dynalora.cli.bench.SpeedCase;
import dev.dynalora.cli.bench.SpeedReport;
import dev.dynalora.cli.bench.SpeedRunner;
import dev.dynalora.cli.bench.SpeedSettings;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.models.bert.PretrainedBert;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * dynalora bench speed: our forward pass and LoRA / Dynamic LoRA training steps against the PyTorch eager
 * reference script, alternating within each round, every measurement in its own process (so peak memory is
 * per measurement); prints medians, ratios, Dynamic LoRA's overhead and model FLOPs utilisation.
 */
@Command(name = "speed", mixinStandardHelpOptions = true,
        description = "Compare bench forward / bench step with the PyTorch reference script, side by side.")
final class BenchSpeedCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face BERT model folder.")
    Path model;

    @Option(names = "--reference", required = true, paramLabel = "SCRIPT", description = "The PyTorch reference, e.g. ../shared/reference/torch_bert_lora.py.")
    Path reference;

    @Option(names = "--python", defaultValue = "/usr/bin/python3", description = "Interpreter of the reference. Default: ${DEFAULT-VALUE}.")
    String python;

    @Option(names = "--batch", defaultValue = "32", description = "Default: ${DEFAULT-VALUE}.")
    int batch;

    @Option(names = "--seq", defaultValue = "128", description = "Default: ${DEFAULT-VALUE}.")
    int seq;

    @Option(names = "--steps", defaultValue = "5", description = "Timed steps per measurement. Default: ${DEFAULT-VALUE}.")
    int steps;

    @Option(names = "--warmup", defaultValue = "3", description = "Untimed warm-up steps per measurement. Default: ${DEFAULT-VALUE}.")
    int warmup;

    @Option(names = "--rounds", defaultValue = "3", description = "Rounds of the five measurements. Default: ${DEFAULT-VALUE}.")
    int rounds;

    @Option(names = "--rank", defaultValue = "8", description = "LoRA rank (both engines; Dynamic LoRA at the same rank). Default: ${DEFAULT-VALUE}.")
    int rank;

    @Option(names = "--targets", defaultValue = "query,value", description = "Adapted modules, from query, key, value, dense. Default: ${DEFAULT-VALUE}.")
    String targets;

    @Option(names = "--peak-gflops-per-core", defaultValue = "105", description = "FMA peak per core for MFU. Default: ${DEFAULT-VALUE}.")
    double peakGflopsPerCore;

    @Option(names = "--json", description = "Print one JSON object with every figure instead of the table.")
    boolean json;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() {
        SpeedSettings s = new SpeedSettings(model.toAbsolutePath().normalize(), reference.toAbsolutePath().normalize(),
                python, batch, seq, steps, warmup, rounds, threads.resolve(), rank, targets, peakGflopsPerCore);
        if (!Files.isRegularFile(s.reference())) {
            throw new UserInputException("--reference " + reference + " is not a file");
        }
        ModelConfig config = PretrainedBert.bertConfig(s.model());
        PretrainedBert.weightsFile(s.model());
        LoraConfig lora = LoraConfig.of(rank, 16, targets, false, 0f, 0);
        SpeedReport report = new SpeedReport(s, FlopModel.inference(config, batch, seq),
                FlopModel.adapterStep(config, batch, seq, lora, 2));
        int total = rounds * SpeedCase.values().length;
        try (Progress bar = Progress.start("speed", total, "runs")) {
            int done = 0;
            for (int round = 1; round <= rounds; round++) {
                for (SpeedCase c : SpeedCase.values()) {
                    bar.stepTo(done, "round " + round + "/" + rounds + ": " + c.name().toLowerCase(java.util.Locale.ROOT));
                    ObjectNode line = SpeedRunner.measure(c, s, Main.class.getName());
                    report.add(c, line);
                    done++;
                }
            }
            bar.stepTo(done, "done");
        }
        System.out.print(json ? report.toJson() + "\n" : report.markdown());
        return 0;
    }
}
