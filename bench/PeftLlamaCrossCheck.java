import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.formats.peft.PeftAdapters;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.llama.LlamaForCausalLM;
import dev.dynalora.models.llama.PretrainedLlama;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The Java half of bench/peft-llama-crosscheck.sh: puts random LoRA adapters with per-module ranks and alphas on
 * stories260K, writes them with PeftAdapters.save, and prints (one JSON line) the mean next-token loss of base and
 * base + adapter over the token blocks the reference's own packing made (blocks.json), so that the reference's
 * --mode eval --adapter on the written folder can be compared with it.
 *
 * Usage: java --add-modules jdk.incubator.vector -cp CLASSPATH bench/PeftLlamaCrossCheck.java MODEL BLOCKS OUT VARIANT
 *   VARIANT qv:  q_proj (r 8) and v_proj (r 4), lora_alpha 16, v_proj of layer 0 at alpha 8
 *                (rank_pattern and alpha_pattern);
 *   VARIANT all: every projection, ranks 2, 4, 6 in turn, alpha 8, rsLoRA, Dynamic LoRA masks pruning component 1
 *                of every adapter of rank 4 or more (written at the active rank, with alpha_pattern).
 */
public class PeftLlamaCrossCheck {
    public static void main(String[] args) throws Exception {
        Path model = Path.of(args[0]);
        JsonNode blocksJson = new ObjectMapper().readTree(Path.of(args[1]).toFile());
        Path out = Path.of(args[2]);
        String variant = args[3];
        int[][] blocks = new int[blocksJson.size()][];
        for (int b = 0; b < blocks.length; b++) {
            JsonNode ids = blocksJson.get(b);
            blocks[b] = new int[ids.size()];
            for (int i = 0; i < ids.size(); i++) {
                blocks[b][i] = ids.get(i).asInt();
            }
        }
        try (CpuKernels k = new CpuKernels(2)) {
            LlamaForCausalLM m = PretrainedLlama.load(model);
            double base = meanLoss(k, m, blocks);
            LoraConfig cfg = attach(m, variant);
            double adapted = meanLoss(k, m, blocks);
            PeftAdapters.save(out, m, cfg, model.toString(), null);
            System.out.printf("{\"variant\": \"%s\", \"valid_loss_base\": %.9f, \"valid_loss\": %.9f, \"blocks\": %d}%n",
                    variant, base, adapted, blocks.length);
        }
    }

    static LoraConfig attach(LlamaForCausalLM m, String variant) {
        boolean all = variant.equals("all");
        List<String> targets = all ? List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
                : List.of("q_proj", "v_proj");
        SplittableRandom r = new SplittableRandom(42);
        int i = 0;
        for (LinearModule lm : m.linearModules()) {
            if (!targets.contains(lm.shortName())) {
                continue;
            }
            int rank = all ? 2 + 2 * (i % 3) : lm.shortName().equals("q_proj") ? 8 : 4;
            float alpha = all ? 8f : lm.name().equals("model.layers.0.self_attn.v_proj") ? 8f : 16f;
            LoraAdapter a = new LoraAdapter(lm.name(), lm.in(), lm.out(), rank, alpha, all, all, false, 100 + i);
            float[] b = a.loraB().data();
            for (int j = 0; j < b.length; j++) {
                b[j] = (float) ((r.nextDouble() * 2 - 1) * 0.05);
            }
            if (all && rank >= 4) {
                a.componentMask()[1] = 0f;
            }
            lm.setAdapter(a);
            i++;
        }
        return all ? LoraConfig.of(4, 8f, String.join(",", targets), true, 0f, 1)
                : LoraConfig.of(8, 16f, "q_proj,v_proj", false, 0f, 1);
    }

    /** Mean next-token cross-entropy over all blocks (inputs block[0..n-1), targets block[1..n)), in double. */
    static double meanLoss(CpuKernels k, LlamaForCausalLM m, int[][] blocks) {
        int vocab = m.config().vocabSize();
        double sum = 0;
        long count = 0;
        for (int[] block : blocks) {
            int seq = block.length - 1;
            int[] mask = new int[seq];
            Arrays.fill(mask, 1);
            float[] lg = m.forward(k, Arrays.copyOf(block, seq), new TokenBatch(1, seq, mask, false, 0L, 0L), false);
            for (int t = 0; t < seq; t++) {
                int row = t * vocab;
                double max = Double.NEGATIVE_INFINITY;
                for (int v = 0; v < vocab; v++) {
                    max = Math.max(max, lg[row + v]);
                }
                double z = 0;
                for (int v = 0; v < vocab; v++) {
                    z += Math.exp(lg[row + v] - max);
                }
                sum += max + Math.log(z) - lg[row + block[t + 1]];
                count++;
            }
        }
        return sum / count;
    }
}
