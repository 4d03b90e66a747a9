package dev.dynalora.cli;

import dev.dynalora.UserInputException;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.formats.peft.PeftAdapters;
import dev.dynalora.models.AutoModels;
import dev.dynalora.models.CausalLm;
import dev.dynalora.models.LinearModule;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * dynalora bench random-adapters: N PEFT LoRA adapter folders with random non-zero weights for a causal LM
 * (OUT/a0 .. OUT/aN-1), for load-testing dynalora serve with many adapters without training them. Each
 * adapter changes the model's text: lora_A ~ U(+-1/sqrt(in)), lora_B ~ U(+-scale), on q_proj, v_proj and
 * down_proj.
 */
@Command(name = "random-adapters", mixinStandardHelpOptions = true,
        description = "Write N PEFT LoRA adapter folders with random weights for a causal LM (for load tests of serve).")
final class BenchRandomAdaptersCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face causal-LM folder.")
    Path model;

    @Option(names = "--count", defaultValue = "8", paramLabel = "N", description = "Adapters to write. Default: ${DEFAULT-VALUE}.")
    int count;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Folder to write OUT/a0 .. OUT/aN-1 into.")
    Path out;

    @Option(names = "--rank", defaultValue = "8", description = "LoRA rank. Default: ${DEFAULT-VALUE}.")
    int rank;

    @Option(names = "--scale", defaultValue = "0.1", description = "Range of lora_B's values. Default: ${DEFAULT-VALUE}.")
    double scale;

    @Option(names = "--seed", defaultValue = "0", description = "Default: ${DEFAULT-VALUE}.")
    long seed;

    @Override
    public Integer call() throws Exception {
        if (count < 1 || rank < 1 || !(scale > 0)) {
            throw new UserInputException("--count and --rank must be at least 1, --scale above 0");
        }
        if (Files.exists(out) && !Files.isDirectory(out)) {
            throw new UserInputException("--out " + out + " is a file");
        }
        for (int i = 0; i < count; i++) {
            CausalLm m = AutoModels.causalLm(model);
            SplittableRandom r = new SplittableRandom(seed * 1000 + i);
            for (LinearModule lm : m.linearModules()) {
                String s = lm.shortName();
                if (s.equals("q_proj") || s.equals("v_proj") || s.equals("down_proj")) {
                    float[] a = new float[rank * lm.in()];
                    float[] b = new float[lm.out() * rank];
                    double ra = 1 / Math.sqrt(lm.in());
                    for (int j = 0; j < a.length; j++) {
                        a[j] = (float) r.nextDouble(-ra, ra);
                    }
                    for (int j = 0; j < b.length; j++) {
                        b[j] = (float) r.nextDouble(-scale, scale);
                    }
                    lm.setAdapter(new LoraAdapter(lm.name(), lm.in(), lm.out(), 2f, a, b, false));
                }
            }
            Path dir = out.resolve("a" + i);
            PeftAdapters.save(dir, m, LoraConfig.of(rank, 2f * rank, "q_proj,v_proj,down_proj", false, 0f, 1), model.toString(), null);
            System.out.println(dir);
        }
        return 0;
    }
}
