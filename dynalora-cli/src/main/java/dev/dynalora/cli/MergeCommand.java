package dev.dynalora.cli;

import dev.dynalora.formats.ModelConfig;
import dev.dynalora.models.HuggingFaceExport;
import dev.dynalora.training.GlueTrainer;
import dev.dynalora.training.RunFolder;
import dev.dynalora.training.TrainConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * dynalora merge: folds a run's adapter into the base weights and writes a Hugging Face
 * BertForSequenceClassification folder (config.json, model.safetensors, tokenizer files). A Dynamic LoRA
 * adapter with input gates is refused: its update depends on each example and has no exact merged form.
 */
@Command(name = "merge", mixinStandardHelpOptions = true, description = "Merge a run's adapter into a Hugging Face model folder.")
final class MergeCommand implements Callable<Integer> {
    @Option(names = "--run", required = true, paramLabel = "RUN_DIR")
    Path runDir;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Folder to create (whole or not at all).")
    Path out;

    @Option(names = "--overwrite", description = "Replace an existing output folder.")
    boolean overwrite;

    @Override
    public Integer call() {
        RunFolder run = RunFolder.open(runDir);
        TrainConfig c = run.readConfig();
        GlueTrainer.Built built = GlueTrainer.build(c);
        run.loadTrainable(built.trainable(), built.model());
        Path source = Path.of(c.model());
        String[] labels = built.task().labelNames().toArray(new String[0]);
        HuggingFaceExport.write(out, built.model(), ModelConfig.read(source), source, labels, overwrite);
        System.out.println("wrote " + out);
        return 0;
    }
}
