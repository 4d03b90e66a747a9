package dev.dynalora.cli;

import dev.dynalora.formats.ModelConfig;
import dev.dynalora.models.HuggingFaceExport;
import dev.dynalora.training.CausalLmRuns;
import dev.dynalora.training.GlueTrainer;
import dev.dynalora.training.RunFolder;
import dev.dynalora.training.TrainConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import dev.dynalora.UserInputException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * dynalora merge: folds a run's adapter into the base weights and writes a Hugging Face folder
 * (config.json, model.safetensors, tokenizer files): BertForSequenceClassification for a GLUE run,
 * LlamaForCausalLM for an lm or sft run. A Dynamic LoRA
 * adapter with input gates is refused: its update depends on each example and has no exact merged form.
 */
@Command(name = "merge", mixinStandardHelpOptions = true, description = "Merge a run's adapter into a Hugging Face model folder.")
final class MergeCommand implements Callable<Integer> {
    @Option(names = "--run", required = true, paramLabel = "RUN_DIR")
    Path runDir;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Folder to create (whole or not at all).")
    Path out;

    @Option(names = "--overwrite", description = "Replace an existing output folder, if it holds only an earlier export (a model folder).")
    boolean overwrite;

    @Override
    public Integer call() {
        RunFolder run = RunFolder.open(runDir);
        TrainConfig c = run.readConfig();
        Path source = Path.of(c.model());
        refuseOverlap(out, runDir, "the run folder");
        refuseOverlap(out, source, "the base model folder");
        if (CausalLmRuns.isCausalTask(c.task())) {
            // A decoder: a LlamaForCausalLM (or the family's) folder with the base's config and tokenizer files.
            CausalLmRuns.Built built = CausalLmRuns.build(c);
            run.loadTrainable(built.trainable(), built.model());
            HuggingFaceExport.write(out, built.model(), source, overwrite);
            System.out.println("wrote " + out);
            return 0;
        }
        GlueTrainer.Built built = GlueTrainer.build(c);
        run.loadTrainable(built.trainable(), built.model());
        // A regression task (STS-B) has no label names: its one output is named LABEL_0, as transformers does.
        List<String> names = built.task().labelNames();
        String[] labels = names.isEmpty() ? null : names.toArray(new String[0]);
        HuggingFaceExport.write(out, built.model(), ModelConfig.read(source), source, labels, overwrite);
        System.out.println("wrote " + out);
        return 0;
    }

    /**
     * --out may not be a folder whose replacement would destroy {@code kept}: the folder itself, or one that
     * contains it (symbolic links resolved, so another spelling of the same folder is caught too).
     */
    static void refuseOverlap(Path out, Path kept, String what) {
        Path o = resolved(out);
        Path k = resolved(kept);
        if (o.equals(k)) {
            throw new UserInputException("--out " + out + " is " + what + " itself; choose a new folder for the merged model");
        }
        if (k.startsWith(o)) {
            throw new UserInputException("--out " + out + " contains " + what + " (" + kept + "); choose a new folder for"
                    + " the merged model");
        }
    }

    /** The real path of the longest existing prefix, with the rest appended: symlinks resolved where they exist. */
    private static Path resolved(Path p) {
        Path abs = p.toAbsolutePath().normalize();
        Path existing = abs;
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        if (existing == null) {
            return abs;
        }
        try {
            return existing.toRealPath().resolve(existing.relativize(abs));
        } catch (IOException e) {
            return abs;
        }
    }
}
