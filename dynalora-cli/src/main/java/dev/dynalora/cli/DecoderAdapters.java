package dev.dynalora.cli;

import dev.dynalora.UserInputException;
import dev.dynalora.formats.peft.PeftAdapters;
import dev.dynalora.formats.peft.PeftFiles;
import dev.dynalora.models.CausalLm;
import dev.dynalora.training.CausalLmRuns;
import dev.dynalora.training.RunFolder;
import dev.dynalora.training.TrainConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What {@code --adapter DIR} of {@code generate} (and of {@code spark generate}) puts on a decoder: a PEFT adapter
 * folder (ours or Python PEFT's), or a dynalora lm/sft run folder trained on the same model (its trained tensors).
 */
public final class DecoderAdapters {
    private DecoderAdapters() {
    }

    /**
     * Applies the adapter in {@code adapter} to {@code m}, the model loaded from {@code model}: a run folder gives
     * the run's method and trained tensors (adapters, or a fully fine-tuned model's weights); a PEFT folder its
     * adapters. Either must fit the model: a run trained on another base is refused by name, a PEFT folder for
     * another base by its missing modules or shapes (the reader's one-line error).
     */
    public static void apply(CausalLm m, Path model, Path adapter) {
        if (Files.isRegularFile(adapter.resolve(RunFolder.CONFIG))) {
            RunFolder run = RunFolder.open(adapter);
            TrainConfig c = run.readConfig();
            if (!CausalLmRuns.isCausalTask(c.task())) {
                throw new UserInputException("--adapter " + adapter + " is a " + c.task() + " run (a classifier); generate"
                        + " takes an lm or sft run, or a PEFT adapter folder");
            }
            if (!sameFolder(Path.of(c.model()), model)) {
                throw new UserInputException("--adapter " + adapter + " was trained on " + c.model() + ", not on --model " + model);
            }
            CausalLmRuns.Built built = CausalLmRuns.build(c, m);
            run.loadTrainable(built.trainable(), m);
            return;
        }
        if (Files.isRegularFile(adapter.resolve(PeftFiles.CONFIG_FILE))) {
            PeftAdapters.load(adapter, m);
            return;
        }
        throw new UserInputException("--adapter " + adapter + " is neither a PEFT adapter folder (no "
                + PeftFiles.CONFIG_FILE + ") nor a dynalora run folder (no " + RunFolder.CONFIG + ")");
    }

    private static boolean sameFolder(Path a, Path b) {
        try {
            return a.toRealPath().equals(b.toRealPath());
        } catch (IOException e) {
            return a.toAbsolutePath().normalize().equals(b.toAbsolutePath().normalize());
        }
    }
}
