package dev.dynalora.serving;

import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.formats.peft.PeftAdapters;
import dev.dynalora.generation.Completion;
import dev.dynalora.generation.GenerationConfig;
import dev.dynalora.generation.Generator;
import dev.dynalora.generation.PromptTokenizer;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.models.AutoModels;
import dev.dynalora.models.CausalLm;
import dev.dynalora.models.LinearModule;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** Random non-zero LoRA adapters saved as PEFT folders, and what generate makes of them (the reference). */
final class TestAdapters {
    private TestAdapters() {
    }

    static Path shared(String model) {
        return Path.of(System.getProperty("dynalora.shared", "../../shared")).resolve("models").resolve(model);
    }

    /** Writes a PEFT folder with random rank-4 adapters on q_proj, v_proj and down_proj (large enough to change text). */
    static void write(Path modelDir, Path out, long seed) {
        CausalLm m = AutoModels.causalLm(modelDir);
        SplittableRandom r = new SplittableRandom(seed);
        for (LinearModule lm : m.linearModules()) {
            String s = lm.shortName();
            if (s.equals("q_proj") || s.equals("v_proj") || s.equals("down_proj")) {
                int rank = 4;
                float[] a = new float[rank * lm.in()];
                float[] b = new float[lm.out() * rank];
                for (int i = 0; i < a.length; i++) {
                    a[i] = (float) r.nextDouble(-0.15, 0.15);
                }
                for (int i = 0; i < b.length; i++) {
                    b[i] = (float) r.nextDouble(-0.15, 0.15);
                }
                lm.setAdapter(new LoraAdapter(lm.name(), lm.in(), lm.out(), 2f, a, b, false));
            }
        }
        PeftAdapters.save(out, m, LoraConfig.of(4, 8f, "q_proj,v_proj,down_proj", false, 0f, 1), modelDir.toString(), null);
    }

    /**
     * What dynalora generate computes for each prompt, alone (batch 1, as generate --prompt runs), greedily:
     * the model with the adapter folder loaded as generate --adapter loads it (null: the base), with each token's
     * logprob (--logprobs 1).
     */
    static List<Completion> generate(Path modelDir, Path adapter, List<String> prompts, int maxTokens, int threads) {
        CausalLm m = AutoModels.causalLm(modelDir);
        if (adapter != null) {
            PeftAdapters.load(adapter, m);
        }
        List<Completion> out = new ArrayList<>();
        try (PromptTokenizer tok = PromptTokenizer.load(modelDir, m.bosTokenId()); CpuKernels k = new CpuKernels(threads)) {
            Generator g = new Generator(m, k, tok);
            for (String p : prompts) {
                out.add(g.generate(List.of(tok.encode(p)), GenerationConfig.greedy(maxTokens).withLogprobs(1), 1, null).get(0));
            }
        }
        return out;
    }
}
