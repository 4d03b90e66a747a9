package dev.dynalora.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.UserInputException;
import dev.dynalora.data.GlueReader;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.tokenize.TextTokenizer;
import dev.dynalora.training.EncodedExamples;
import dev.dynalora.data.LmExample;
import dev.dynalora.training.CausalLmObjective;
import dev.dynalora.training.CausalLmRuns;
import dev.dynalora.training.GlueTrainer;
import dev.dynalora.training.RunFolder;
import dev.dynalora.training.TrainConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** dynalora eval: the metrics of a finished run on a labelled split, as JSON. */
@Command(name = "eval", mixinStandardHelpOptions = true, description = "Evaluate a trained run on a labelled split.")
final class EvalCommand implements Callable<Integer> {
    @Option(names = "--run", required = true, paramLabel = "RUN_DIR", description = "A run folder written by train.")
    Path runDir;

    @Option(names = "--split", defaultValue = "dev", description = "Labelled split (dev, train; dev_matched/dev_mismatched for MNLI; valid or train for lm and sft runs). Default: ${DEFAULT-VALUE}.")
    String split;

    @Option(names = "--batch", defaultValue = "64", description = "Default: ${DEFAULT-VALUE}.")
    int batch;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() throws Exception {
        RunFolder run = RunFolder.open(runDir);
        TrainConfig c = run.readConfig();
        if (CausalLmRuns.isCausalTask(c.task())) {
            return evalCausalLm(run, c);
        }
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
            out.put("task", built.task().id());
            out.put("split", s);
            out.put("examples", data.size());
            out.put("metrics", GlueTrainer.evaluate(k, built.model(), built.task(), data, batch, p::stepBy));
        }
        System.out.println(new ObjectMapper().writeValueAsString(out));
        return 0;
    }

    /** A causal-LM run: mean loss and perplexity on the validation file (--split valid) or the training file. */
    private int evalCausalLm(RunFolder run, TrainConfig c) throws Exception {
        boolean train = split.equals("train");
        if (!train && !split.equals("valid") && !split.equals("dev")) {
            throw new UserInputException("--split " + split + ": a causal-LM run is evaluated on valid or train");
        }
        CausalLmRuns.Built built = CausalLmRuns.build(c);
        run.loadTrainable(built.trainable(), built.model());
        List<LmExample> examples = CausalLmRuns.load(c, built.model(), train);
        CausalLmObjective objective = new CausalLmObjective(built.model(), List.of(), examples);
        Map<String, Object> out = new LinkedHashMap<>();
        try (CpuKernels k = threads.kernels(); Progress p = Progress.start("eval", examples.size(), "ex")) {
            out.put("task", c.task());
            out.put("split", train ? "train" : "valid");
            out.put("examples", examples.size());
            out.put("metrics", objective.evaluate(k, batch, p::stepBy));
        }
        System.out.println(new ObjectMapper().writeValueAsString(out));
        return 0;
    }
}
