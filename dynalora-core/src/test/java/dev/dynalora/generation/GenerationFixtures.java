package dev.dynalora.generation;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.SharedData;
import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.models.llama.LlamaForCausalLM;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;


/** Shared models (skipped when ../shared is absent), modified copies of them, and a reference decoder. */
final class GenerationFixtures {
    private GenerationFixtures() {
    }

    static Path sharedModel(String name) {
        return SharedData.modelOrSkip(name);
    }

    /** A model folder in dir whose config.json is src's with the given fields replaced; other files are links. */
    static Path withConfig(Path src, Path dir, Map<String, Object> fields) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode c = (ObjectNode) json.readTree(src.resolve("config.json").toFile());
        fields.forEach((k, v) -> c.set(k, json.valueToTree(v)));
        Files.writeString(dir.resolve("config.json"), json.writeValueAsString(c));
        for (String f : new String[] {"model.safetensors", "tokenizer.json", "tokenizer_config.json"}) {
            Files.createSymbolicLink(dir.resolve(f), src.resolve(f).toAbsolutePath());
        }
        return dir;
    }

    /** What a decoder without a cache computes: a full forward pass over the whole sequence for every token. */
    record Reference(int[] ids, double[][] logSoftmax) {
    }

    /** Greedy decoding of n tokens (past EOS) with a full forward per token; the log-softmax of every step. */
    static Reference fullForwardGreedy(Kernels k, LlamaForCausalLM m, int[] prompt, int n) {
        int vocab = m.config().vocabSize();
        int[] ids = Arrays.copyOf(prompt, prompt.length + n);
        double[][] ls = new double[n][];
        for (int step = 0; step < n; step++) {
            int len = prompt.length + step;
            int[] mask = new int[len];
            Arrays.fill(mask, 1);
            float[] logits = m.forward(k, Arrays.copyOf(ids, len), new TokenBatch(1, len, mask, false, 0, 0), false);
            int off = (len - 1) * vocab;
            double max = Double.NEGATIVE_INFINITY;
            int best = 0;
            for (int c = 0; c < vocab; c++) {
                if (logits[off + c] > max) {
                    max = logits[off + c];
                    best = c;
                }
            }
            double sum = 0;
            for (int c = 0; c < vocab; c++) {
                sum += Math.exp(logits[off + c] - max);
            }
            double lse = max + Math.log(sum);
            ls[step] = new double[vocab];
            for (int c = 0; c < vocab; c++) {
                ls[step][c] = logits[off + c] - lse;
            }
            ids[len] = best;
        }
        return new Reference(Arrays.copyOfRange(ids, prompt.length, ids.length), ls);
    }
}
