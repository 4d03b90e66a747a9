package dev.dynalora.serving;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dynalora.generation.Completion;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Concurrent greedy requests for a mix of adapters (and the base), batched together by the server, each get
 * exactly what generate gives that prompt and adapter alone, token for token: with room for every sequence
 * at once, and with a small batch and one adapter in memory at a time (requests wait, adapters are evicted
 * and read again).
 */
class BatchInvarianceTest {
    static final List<String> PROMPTS = List.of("Once upon a time", "The dog", "Lily and Tom went to the park. They saw a big",
            "One day", "The little bird was sad because");
    static final int MAX_TOKENS = 40;

    @TempDir
    static Path tmp;
    static Path model;
    static Map<String, Path> adapters = new LinkedHashMap<>();
    /** Reference completions by model name ("stories260K" for the base), in PROMPTS order. */
    static Map<String, List<Completion>> reference = new LinkedHashMap<>();

    @BeforeAll
    static void references() {
        model = TestAdapters.shared("stories260K");
        reference.put("stories260K", TestAdapters.generate(model, null, PROMPTS, MAX_TOKENS, 1));
        for (int i = 1; i <= 3; i++) {
            Path dir = tmp.resolve("a" + i);
            TestAdapters.write(model, dir, i);
            adapters.put("a" + i, dir);
            reference.put("a" + i, TestAdapters.generate(model, dir, PROMPTS, MAX_TOKENS, 1));
        }
        assertNotEquals(reference.get("a1").get(0).text(), reference.get("stories260K").get(0).text(), "the adapter changes the text");
        assertNotEquals(reference.get("a1").get(0).text(), reference.get("a2").get(0).text(), "adapters differ");
    }

    @Test
    void mixedAdapterBatchesMatchGenerate() throws Exception {
        int[] seen = check(ServeOptions.defaults(model).withPort(0).withThreads(2).withAdapters(adapters));
        // The test means something only if requests really shared steps: more rows than the dot-product path takes
        // at once (so RowInvariantKernels cut them), and several adapters in one step.
        assertTrue(seen[0] > 8, "widest decode step " + seen[0]);
        assertTrue(seen[1] >= 3, "most adapters in one step " + seen[1]);
    }

    @Test
    void smallBatchesAndOneLoadedAdapterMatchGenerateToo() throws Exception {
        check(ServeOptions.defaults(model).withPort(0).withThreads(3).withAdapters(adapters).withLimits(1, 3, 256));
    }

    private static String withLogprobs(String body) {
        return body.substring(0, body.length() - 1) + ",\"logprobs\":1}";
    }

    private int[] check(ServeOptions o) throws Exception {
        try (OpenAiServer s = OpenAiServer.start(o)) {
            Http http = new Http(s.port());
            List<String> names = new ArrayList<>(reference.keySet());
            ExecutorService pool = Executors.newFixedThreadPool(16);
            try {
                List<Future<Http.Response>> futures = new ArrayList<>();
                List<String[]> asked = new ArrayList<>();
                for (int round = 0; round < 2; round++) {
                    for (int p = 0; p < PROMPTS.size(); p++) {
                        for (String name : names) {
                            int pi = p;
                            asked.add(new String[] {name, Integer.toString(p)});
                            futures.add(pool.submit(() -> http.post("/v1/completions", withLogprobs(Http.completion(name, PROMPTS.get(pi), MAX_TOKENS)))));
                        }
                    }
                }
                for (int i = 0; i < futures.size(); i++) {
                    Http.Response r = futures.get(i).get();
                    String name = asked.get(i)[0];
                    int p = Integer.parseInt(asked.get(i)[1]);
                    assertEquals(200, r.status(), r.body());
                    JsonNode choice = r.json().path("choices").get(0);
                    Completion want = reference.get(name).get(p);
                    assertEquals(want.text(), choice.path("text").asText(), name + " on \"" + PROMPTS.get(p) + "\"");
                    assertEquals(want.finishReason().json(), choice.path("finish_reason").asText());
                    assertEquals(want.completionIds().length, r.json().path("usage").path("completion_tokens").asInt());
                    assertEquals(want.promptIds().length, r.json().path("usage").path("prompt_tokens").asInt());
                    // Bit for bit: each chosen token's logprob, a function of the whole logits row.
                    JsonNode lps = choice.path("logprobs").path("token_logprobs");
                    assertEquals(want.completionIds().length, lps.size());
                    for (int t = 0; t < lps.size(); t++) {
                        assertEquals(want.topLogprobs().get(t).logprobs()[0], (float) lps.get(t).asDouble(),
                                name + " on \"" + PROMPTS.get(p) + "\", token " + t);
                    }
                }
            } finally {
                pool.shutdownNow();
            }
            return s.batchingSeen();
        }
    }
}
