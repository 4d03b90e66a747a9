package dev.dynalora.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.UserInputException;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.models.AutoModels;
import dev.dynalora.cli.bench.FlopModel;
import dev.dynalora.cli.bench.DecoderSpeed;
import dev.dynalora.cli.bench.SpeedCase;
import dev.dynalora.cli.bench.SpeedReport;
import dev.dynalora.cli.bench.SpeedRunner;
import dev.dynalora.cli.bench.SpeedSettings;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.models.CheckpointWeights;
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
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face model folder: a BERT encoder or a Llama decoder.")
    Path model;

    @Option(names = "--reference", required = true, paramLabel = "SCRIPT", description = "The PyTorch reference, e.g. ../shared/reference/torch_bert_lora.py.")
    Path reference;

    @Option(names = "--python", defaultValue = "/usr/bin/python3", description = "Interpreter of the reference. Default: ${DEFAULT-VALUE}.")
    String python;

    @Option(names = "--batch", description = "Default: 32 for an encoder, 16 for a decoder.")
    Integer batch;

    @Option(names = "--seq", description = "Default: 128 for an encoder, 256 for a decoder.")
    Integer seq;

    @Option(names = "--steps", defaultValue = "5", description = "Timed steps per measurement. Default: ${DEFAULT-VALUE}.")
    int steps;

    @Option(names = "--warmup", defaultValue = "3", description = "Untimed warm-up steps per measurement. Default: ${DEFAULT-VALUE}.")
    int warmup;

    @Option(names = "--rounds", defaultValue = "3", description = "Rounds of the five measurements. Default: ${DEFAULT-VALUE}.")
    int rounds;

    @Option(names = "--rank", defaultValue = "8", description = "LoRA rank (both engines; Dynamic LoRA at the same rank). Default: ${DEFAULT-VALUE}.")
    int rank;

    @Option(names = "--targets", description = "Adapted modules; for an encoder from query, key, value, dense. Default:"
            + " query,value (encoder), q_proj,v_proj (decoder).")
    String targets;

    @Option(names = "--generate-threads", defaultValue = "1", description = "Decoder: threads of the generation"
            + " comparison. Default: ${DEFAULT-VALUE}.")
    int generateThreads;

    @Option(names = "--prompt-len", defaultValue = "16", description = "Decoder: prompt tokens of the generation comparison. Default: ${DEFAULT-VALUE}.")
    int promptLen;

    @Option(names = "--new-tokens", defaultValue = "200", description = "Decoder: tokens generated. Default: ${DEFAULT-VALUE}.")
    int newTokens;

    @Option(names = "--peak-gflops-per-core", defaultValue = "105", description = "FMA peak per core for MFU. Default: ${DEFAULT-VALUE}.")
    double peakGflopsPerCore;

    @Option(names = "--json", description = "Print one JSON object with every figure instead of the table.")
    boolean json;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() {
        if (!Files.isRegularFile(reference)) {
            throw new UserInputException("--reference " + reference + " is not a file");
        }
        if (AutoModels.isCausalLm(model)) {
            return decoder();
        }
        SpeedSettings s = new SpeedSettings(model.toAbsolutePath().normalize(), reference.toAbsolutePath().normalize(),
                python, batch != null ? batch : 32, seq != null ? seq : 128, steps, warmup, rounds, threads.resolve(), rank,
                targets != null ? targets : "query,value", peakGflopsPerCore);
        ModelConfig config = PretrainedBert.bertConfig(s.model());
        CheckpointWeights.file(s.model());
        LoraConfig lora = LoraConfig.of(rank, 16, s.targets(), false, 0f, 0);
        SpeedReport report = new SpeedReport(s, FlopModel.inference(config, s.batch(), s.seq()),
                FlopModel.adapterStep(config, s.batch(), s.seq(), lora, 2));
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

    /** A decoder: our LoRA step and greedy generation against the reference's --mode step and --mode generate. */
    private int decoder() {
        DecoderSpeed.Settings s = new DecoderSpeed.Settings(model.toAbsolutePath().normalize(),
                reference.toAbsolutePath().normalize(), python, batch != null ? batch : 16, seq != null ? seq : 256, steps,
                warmup, rounds, threads.resolve(), rank, targets != null ? targets : "q_proj,v_proj", generateThreads,
                promptLen, newTokens);
        DecoderSpeed speed = new DecoderSpeed(s, Main.class.getName());
        int total = rounds * DecoderSpeed.Case.values().length;
        try (Progress bar = Progress.start("speed", total, "runs")) {
            int done = 0;
            for (int round = 1; round <= rounds; round++) {
                for (DecoderSpeed.Case c : DecoderSpeed.Case.values()) {
                    bar.stepTo(done, "round " + round + "/" + rounds + ": " + c.label());
                    speed.measure(c);
                    done++;
                }
            }
            bar.stepTo(done, "done");
        }
        System.out.print(json ? speed.toJson() + "\n" : speed.markdown());
        return 0;
    }
}
