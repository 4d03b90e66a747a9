package dev.dynalora.models.llama;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.SharedData;
import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.tokenize.TextTokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Forward parity with the PyTorch reference (../shared/reference/torch_llama_lora.py, float32 eager) on the
 * real stories260K (grouped-query attention) and stories15M (tied 32,000-token head) checkpoints: logits
 * recorded by make_llama_logits.py beside the fixture must agree within 1e-4 absolute. Also stories15M's
 * greedy continuation of "Once upon a time". Skipped when ../shared is not there.
 */
class LlamaParityTest {
    static final double TOLERANCE = 1e-4;
    static CpuKernels k;
    static JsonNode fixture;

    @BeforeAll
    static void setUp() throws Exception {
        k = new CpuKernels(2);
        try (InputStream in = LlamaParityTest.class.getResourceAsStream("llama_logits.json")) {
            assertNotNull(in, "fixture llama_logits.json missing");
            fixture = new ObjectMapper().readTree(in);
        }
    }

    @AfterAll
    static void tearDown() {
        k.close();
    }

    static Path sharedModel(String name) {
        return SharedData.modelOrSkip(name);
    }

    static JsonNode modelFixture(String name) {
        for (JsonNode m : fixture.get("models")) {
            if (m.get("model").asText().equals(name)) {
                return m;
            }
        }
        throw new AssertionError("no fixture for " + name);
    }

    static int[] ints(JsonNode a) {
        int[] v = new int[a.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = a.get(i).asInt();
        }
        return v;
    }

    static TokenBatch single(int len) {
        int[] mask = new int[len];
        Arrays.fill(mask, 1);
        return new TokenBatch(1, len, mask, false, 0, 0);
    }

    /** Compares every stored logit of every stored position; returns the largest difference. */
    static double compare(LlamaForCausalLM m, JsonNode modelFixture, TextTokenizer tok) {
        int vocab = m.config().vocabSize();
        double worst = 0;
        for (JsonNode seq : modelFixture.get("sequences")) {
            int[] ids = ints(seq.get("ids"));
            // The fixture's ids came from SentencePiece; our tokenizer.json must give the same.
            assertArrayEquals(ids, tok.encode(seq.get("text").asText()).ids(), "token ids of " + seq.get("text"));
            float[] logits = m.forward(k, ids, single(ids.length), false);
            for (JsonNode pos : seq.get("positions")) {
                int p = pos.get("position").asInt();
                int base = p * vocab;
                JsonNode expected = pos.get("logits");
                int[] which = pos.has("ids") ? ints(pos.get("ids")) : null;
                for (int i = 0; i < expected.size(); i++) {
                    int id = which == null ? i : which[i];
                    double d = Math.abs(logits[base + id] - expected.get(i).asDouble());
                    worst = Math.max(worst, d);
                    assertTrue(d <= TOLERANCE, modelFixture.get("model").asText() + " position " + p + " id " + id
                            + ": " + logits[base + id] + " vs " + expected.get(i).asDouble());
                }
                if (pos.has("logsumexp")) {
                    double max = Double.NEGATIVE_INFINITY;
                    int argmax = -1;
                    for (int c = 0; c < vocab; c++) {
                        if (logits[base + c] > max) {
                            max = logits[base + c];
                            argmax = c;
                        }
                    }
                    double sum = 0;
                    for (int c = 0; c < vocab; c++) {
                        sum += Math.exp(logits[base + c] - max);
                    }
                    assertEquals(pos.get("logsumexp").asDouble(), max + Math.log(sum), TOLERANCE, "logsumexp at " + p);
                    assertEquals(pos.get("argmax").asInt(), argmax, "argmax at " + p);
                }
            }
        }
        return worst;
    }

    @Test
    void stories260kLogitsMatchPyTorch() {
        Path dir = sharedModel("stories260K");
        LlamaForCausalLM m = PretrainedLlama.load(dir);
        assertEquals(4, m.config().numKeyValueHeads());
        try (TextTokenizer tok = TextTokenizer.load(dir, 512)) {
            double worst = compare(m, modelFixture("stories260K"), tok);
            System.out.println("stories260K: max |logit - PyTorch| = " + worst);
        }
    }

    /**
     * The two fully stored stories260K sequences again, as one right-padded batch: padding and batch rows
     * must not change any real token's logits.
     */
    @Test
    void stories260kPaddedBatchMatchesSingleSequences() {
        LlamaForCausalLM m = PretrainedLlama.load(sharedModel("stories260K"));
        JsonNode seqs = modelFixture("stories260K").get("sequences");
        int[] a = ints(seqs.get(0).get("ids"));
        int[] b = ints(seqs.get(1).get("ids"));
        int t = Math.max(a.length, b.length);
        int[] ids = new int[2 * t];
        int[] mask = new int[2 * t];
        for (int i = 0; i < a.length; i++) {
            ids[i] = a[i];
            mask[i] = 1;
        }
        for (int i = 0; i < b.length; i++) {
            ids[t + i] = b[i];
            mask[t + i] = 1;
        }
        int vocab = m.config().vocabSize();
        float[] batched = m.forward(k, ids, new TokenBatch(2, t, mask, false, 0, 0), false).clone();
        int[][] seqIds = {a, b};
        for (int e = 0; e < 2; e++) {
            float[] alone = m.forward(k, seqIds[e], single(seqIds[e].length), false);
            for (int p = 0; p < seqIds[e].length; p++) {
                for (int c = 0; c < vocab; c++) {
                    assertEquals(alone[p * vocab + c], batched[(e * t + p) * vocab + c], 1e-5, "example " + e + " position " + p);
                }
            }
        }
    }

    @Test
    void stories15mLogitsMatchPyTorch() {
        Path dir = sharedModel("stories15M");
        LlamaForCausalLM m = PretrainedLlama.load(dir);
        assertTrue(m.config().tieWordEmbeddings());
        try (TextTokenizer tok = TextTokenizer.load(dir, 256)) {
            double worst = compare(m, modelFixture("stories15M"), tok);
            System.out.println("stories15M: max |logit - PyTorch| = " + worst);
        }
    }

    /** Greedy decoding with a full forward per token (no KV cache yet). */
    @Test
    void stories15mGreedyContinuation() {
        Path dir = sharedModel("stories15M");
        LlamaForCausalLM m = PretrainedLlama.load(dir);
        int vocab = m.config().vocabSize();
        try (TextTokenizer tok = TextTokenizer.load(dir, 256)) {
            int[] prompt = tok.encode("Once upon a time").ids();
            assertEquals(m.config().bosTokenId(), prompt[0], "the tokenizer adds <s>");
            int[] ids = Arrays.copyOf(prompt, prompt.length + 12);
            for (int len = prompt.length; len < ids.length; len++) {
                float[] logits = m.forward(k, Arrays.copyOf(ids, len), single(len), false);
                int best = 0;
                for (int c = 1; c < vocab; c++) {
                    if (logits[(len - 1) * vocab + c] > logits[(len - 1) * vocab + best]) {
                        best = c;
                    }
                }
                ids[len] = best;
            }
            String text = tok.decode(Arrays.copyOfRange(ids, prompt.length, ids.length), true);
            System.out.println("stories15M greedy: Once upon a time" + text);
            assertTrue(text.startsWith(", there was a little girl named Lily"), text);
        }
    }
}
