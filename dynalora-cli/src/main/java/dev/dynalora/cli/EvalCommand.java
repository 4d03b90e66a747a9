package dev.dynalora.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.UserInputException;
import dev.dynalora.data.GlueReader;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.tokenize.TextTokenizer;
import dev.dynalora.training.EncodedExamples;
import dev.dynalora.training.GlueTrainer;
import dev.dynalora.training.RunFolder;
import dev.dynalora.training.TrainConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/** dynalora eval: the metrics of a finished run on a labelled split, as JSON. */
@Command(name = "eval", mixinStandardHelpOptions = true, description = "Evaluate a trained run on a labelled split.")
final class EvalCommand implements Callable<Integer> {
    @Option(names = "--run", required = true, paramLabel = "RUN_DIR", description = "A run folder written by train.")
    Path runDir;

    @Option(names = "--split", defaultValue = "dev", description = "Labelled split (dev, train; dev_matched/dev_mismatched for MNLI). Default: ${DEFAULT-VALUE}.")
    String split;

    @Option(names = "--batch", defaultValue = "64", description = "Default: ${DEFAULT-VALUE}.")
    int batch;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() throws Exception {
        RunFolder run = RunFolder.open(runDir);
        TrainConfig c = run.readConfig();
        GlueTrainer.Built built = GlueTrainer.build(c);
        if (split.startsWith("test")) {
            throw new UserInputException("split " + split + " has no labels; use 'dynalora predict' for test files");
        }
        String s = built.task().name().equals("MNLI") && split.equals("dev") ? "dev_matched" : split;
        run.loadTrainable(built.trainable(), built.model());
        EncodedExamples data;
        try (TextTokenizer tok = TextTokenizer.load(Path.of(c.model()), c.maxLen())) {
            data = new EncodedExamples(GlueReader.read(Path.of(c.data()), built.task(), s), tok);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        try (CpuKernels k = threads.kernels(); Progress p = Progress.start("eval", data.size(), "ex")) {
            out.put("task", built.task().cliName());
            out.put("split", s);
            out.put("examples", data.size());
            out.put("metrics", GlueTrainer.evaluate(k, built.model(), built.task(), data, batch, p::stepBy));
        }
        System.out.println(new ObjectMapper().writeValueAsString(out));
        return 0;
    }
}
