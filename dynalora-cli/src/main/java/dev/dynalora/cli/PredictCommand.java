package dev.dynalora.cli;

import dev.dynalora.UserInputException;
import dev.dynalora.data.Example;
import dev.dynalora.data.GlueReader;
import dev.dynalora.formats.AtomicFiles;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.tokenize.TextTokenizer;
import dev.dynalora.training.EncodedExamples;
import dev.dynalora.training.CausalLmRuns;
import dev.dynalora.training.GlueTrainer;
import dev.dynalora.training.Predictor;
import dev.dynalora.training.RunFolder;
import dev.dynalora.training.TrainConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * dynalora predict: reads a GLUE test.tsv and writes index TAB prediction with GLUE's label names (a number
 * for STS-B), the layout of a GLUE submission file. The output appears whole or not at all.
 */
@Command(name = "predict", mixinStandardHelpOptions = true, description = "Predict labels for a GLUE test file.")
final class PredictCommand implements Callable<Integer> {
    @Option(names = "--run", required = true, paramLabel = "RUN_DIR")
    Path runDir;

    @Option(names = "--input", required = true, paramLabel = "TEST.tsv")
    Path input;

    @Option(names = "--output", required = true, paramLabel = "PRED.tsv")
    Path output;

    @Option(names = "--overwrite", description = "Replace an existing output file.")
    boolean overwrite;

    @Option(names = "--batch", defaultValue = "64", description = "Default: ${DEFAULT-VALUE}.")
    int batch;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() throws Exception {
        OutputFile.check("--output", output, overwrite, "index\tprediction", "a predictions file", input);
        RunFolder run = RunFolder.open(runDir);
        TrainConfig c = run.readConfig();
        if (CausalLmRuns.isCausalTask(c.task())) {
            throw new UserInputException(runDir + " is a " + c.task() + " run of a causal LM; predict labels GLUE test files,"
                    + " generate text with: dynalora generate --model " + c.model() + " --adapter " + runDir + " --input PROMPTS.jsonl");
        }
        GlueTrainer.Built built = GlueTrainer.build(c);
        run.loadTrainable(built.trainable(), built.model());
        String split = built.task().testSplits().get(0);
        List<Example> examples = GlueReader.readFile(input, built.task(), split, 0);
        EncodedExamples data;
        try (TextTokenizer tok = TextTokenizer.load(Path.of(c.model()), c.maxLen())) {
            data = new EncodedExamples(examples, tok);
        }
        float[] logits;
        try (CpuKernels k = threads.kernels(); Progress p = Progress.start("predict", examples.size(), "ex")) {
            logits = Predictor.logits(k, built.model(), data, batch, p::stepBy);
        }
        List<String> predictions = Predictor.predictionTexts(built.task(), logits, built.model().numLabels());
        StringBuilder sb = new StringBuilder("index\tprediction\n");
        for (int i = 0; i < examples.size(); i++) {
            sb.append(examples.get(i).index()).append('\t').append(predictions.get(i)).append('\n');
        }
        AtomicFiles.writeString(output, sb.toString());
        return 0;
    }
}
