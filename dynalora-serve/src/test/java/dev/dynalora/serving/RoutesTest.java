package dev.dynalora.serving;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dynalora.generation.Completion;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each route's answers and error statuses, on one server over stories260K with an adapter root. */
class RoutesTest {
    @TempDir
    static Path tmp;
    static Path model;
    static Path root;
    static OpenAiServer server;
    static Http http;
    static List<Completion> referenceA1;

    @BeforeAll
    static void start() throws Exception {
        model = TestAdapters.shared("stories260K");
        TestAdapters.write(model, tmp.resolve("a1"), 1);
        root = Files.createDirectories(tmp.resolve("root"));
        TestAdapters.write(model, root.resolve("good"), 5);
        referenceA1 = TestAdapters.generate(model, tmp.resolve("a1"), List.of("Once upon a time"), 300, 1);
        server = OpenAiServer.start(ServeOptions.defaults(model).withPort(0).withThreads(2)
                .withAdapters(Map.of("a1", tmp.resolve("a1"))).withAdapterRoot(root));
        http = new Http(server.port());
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    private static void assertError(Http.Response r, int status, String param, String messagePart) {
        assertEquals(status, r.status(), r.body());
        JsonNode e = r.json().path("error");
        assertTrue(e.has("message") && e.has("type") && e.has("param") && e.has("code"), r.body());
        if (param != null) {
            assertEquals(param, e.path("param").asText(), r.body());
        }
        assertTrue(e.path("message").asText().contains(messagePart), r.body());
        assertFalse(r.body().contains("\tat "), "no stack trace: " + r.body());
    }

    @Test
    void modelsHealthAndMetrics() {
        JsonNode data = http.get("/v1/models").json().path("data");
        assertEquals("stories260K", data.get(0).path("id").asText());
        List<String> ids = new ArrayList<>();
        data.forEach(d -> ids.add(d.path("id").asText()));
        assertTrue(ids.contains("a1"), ids.toString());
        assertEquals(200, http.get("/health").status());
        http.post("/v1/completions", Http.completion("a1", "Hi", 3));
        String m = http.get("/metrics").body();
        for (String name : new String[] {"dynalora_requests_total", "dynalora_prompt_tokens_total", "dynalora_generation_tokens_total",
                "dynalora_queue_length", "dynalora_time_to_first_token_seconds_bucket", "dynalora_time_per_output_token_seconds_bucket",
                "dynalora_adapters_loaded"}) {
            assertTrue(m.contains(name), name + " in\n" + m);
        }
    }

    @Test
    void badRequestsGetTheirStatus() {
        assertError(http.post("/v1/completions", "{\"model\": \"a1\", \"prompt\": "), 400, null, "not valid JSON");
        assertError(http.post("/v1/completions", "[1, 2]"), 400, null, "JSON object");
        assertError(http.post("/v1/completions", ""), 400, null, "empty");
        assertError(http.post("/v1/completions", "{\"prompt\": \"x\"}"), 400, "model", "model");
        assertError(http.post("/v1/completions", "{\"model\": \"nope\", \"prompt\": \"x\"}"), 404, "model", "nope");
        assertError(http.post("/v1/completions", "{\"model\": \"a1\"}"), 400, "prompt", "prompt");
        assertError(http.post("/v1/completions", "{\"model\": \"a1\", \"prompt\": 5}"), 400, "prompt", "prompt");
        assertError(http.post("/v1/completions", "{\"model\": \"a1\", \"prompt\": \"x\", \"max_tokens\": -1}"), 400, "max_tokens", "at least 1");
        assertError(http.post("/v1/completions", "{\"model\": \"a1\", \"prompt\": \"x\", \"max_tokens\": \"many\"}"), 400, "max_tokens", "integer");
        assertError(http.post("/v1/completions", "{\"model\": \"a1\", \"prompt\": \"x\", \"temperature\": \"hot\"}"), 400, "temperature", "number");
        assertError(http.post("/v1/completions", "{\"model\": \"a1\", \"prompt\": \"x\", \"temperature\": 3}"), 400, "temperature", "at most 2");
        assertError(http.post("/v1/completions", "{\"model\": \"a1\", \"prompt\": \"x\", \"top_p\": 0}"), 400, "top_p", "above 0");
        assertError(http.post("/v1/completions", "{\"model\": \"a1\", \"prompt\": \"x\", \"stop\": 5}"), 400, "stop", "stop");
        assertError(http.post("/v1/completions", "{\"model\": \"a1\", \"prompt\": \"x\", \"stop\": [\"\"]}"), 400, "stop", "empty");
        assertError(http.post("/v1/completions", "{\"model\": \"a1\", \"prompt\": \"x\", \"n\": 2}"), 400, "n", "n must be 1");
        assertError(http.post("/v1/completions", "{\"model\": \"a1\", \"prompt\": \"x\", \"logprobs\": 50}"), 400, "logprobs", "20");
        assertError(http.post("/v1/completions", "{\"model\": \"a1\", \"prompt\": [1, 99999]}"), 400, "prompt", "[0, 512)");
        assertError(http.post("/v1/completions", "{\"model\": \"a1\", \"prompt\": \"x\", \"stream\": \"yes\"}"), 400, "stream", "true or false");
        assertError(http.post("/v1/nothing", "{}"), 404, null, "not found");
        Http.Response get = http.get("/v1/completions");
        assertTrue(get.status() == 404 || get.status() == 405, get.status() + " " + get.body());
        assertTrue(get.json().has("error"), get.body());
    }

    @Test
    void aPromptLongerThanTheContextIs400WithTheNumbers() {
        String longPrompt = "Once upon a time ".repeat(200);
        Http.Response r = http.post("/v1/completions", Http.completion("a1", longPrompt, 5));
        assertError(r, 400, "prompt", "maximum context length is 512 tokens");
        assertTrue(r.errorMessage().matches(".*requested \\d{3,} tokens.*"), r.errorMessage());
    }

    @Test
    void maxTokensBeyondTheContextIsCutWithFinishReasonLength() {
        Http.Response r = http.post("/v1/completions", "{\"model\": \"stories260K\", \"prompt\": \"" + "Once upon a time ".repeat(100)
                + "\", \"max_tokens\": 1000000000000, \"temperature\": 0, \"stop\": \"zzzzqqq\"}");
        assertEquals(200, r.status(), r.body());
        JsonNode u = r.json().path("usage");
        if (r.json().path("choices").get(0).path("finish_reason").asText().equals("length")) {
            assertEquals(512, u.path("total_tokens").asInt(), r.body());
        }
        // (the model may also end with its end-of-sequence token before the context is full: finish_reason stop)
        assertTrue(u.path("total_tokens").asInt() <= 512);
    }

    @Test
    void streamingSendsTheSameTextAsServerSentEventsEndingWithDone() {
        Http.Response r = http.post("/v1/completions", "{\"model\": \"a1\", \"prompt\": \"Once upon a time\", \"max_tokens\": 300,"
                + " \"temperature\": 0, \"stream\": true, \"stream_options\": {\"include_usage\": true}}");
        assertEquals(200, r.status());
        StringBuilder text = new StringBuilder();
        String finish = null;
        int completionTokens = -1;
        String[] events = r.body().split("\n\n");
        assertEquals("data: [DONE]", events[events.length - 1]);
        for (int i = 0; i < events.length - 1; i++) {
            assertTrue(events[i].startsWith("data: "), events[i]);
            JsonNode c = new Http.Response(200, events[i].substring(6)).json();
            if (c.has("usage")) {
                completionTokens = c.path("usage").path("completion_tokens").asInt();
                continue;
            }
            JsonNode ch = c.path("choices").get(0);
            text.append(ch.path("text").asText());
            if (!ch.path("finish_reason").isNull()) {
                finish = ch.path("finish_reason").asText();
            }
        }
        Completion want = referenceA1.get(0);
        assertEquals(want.text(), text.toString());
        assertEquals(want.finishReason().json(), finish);
        assertEquals(want.completionIds().length, completionTokens);
    }

    @Test
    void logprobsZeroReportsTheChosenTokensAlone() {
        Http.Response r = http.post("/v1/completions", "{\"model\": \"a1\", \"prompt\": \"Once upon a time\", \"max_tokens\": 5,"
                + " \"temperature\": 0, \"logprobs\": 0}");
        assertEquals(200, r.status(), r.body());
        JsonNode lp = r.json().path("choices").get(0).path("logprobs");
        assertEquals(5, lp.path("token_logprobs").size(), r.body());
        for (int t = 0; t < 5; t++) {
            assertEquals(referenceA1.get(0).topLogprobs().get(t).logprobs()[0], (float) lp.path("token_logprobs").get(t).asDouble());
            assertTrue(lp.path("top_logprobs").get(t).isObject() && lp.path("top_logprobs").get(t).isEmpty(), r.body());
        }
    }

    @Test
    void aBadRequestWhileOthersRunLeavesThemAlone() throws Exception {
        List<CompletableFuture<Http.Response>> running = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            running.add(CompletableFuture.supplyAsync(() -> http.post("/v1/completions", Http.completion("a1", "Once upon a time", 300))));
        }
        Thread.sleep(100);
        assertError(http.post("/v1/completions", "{garbage"), 400, null, "JSON");
        assertError(http.post("/v1/completions", Http.completion("ghost", "x", 5)), 404, "model", "ghost");
        assertError(http.post("/v1/load_lora_adapter", "{\"lora_name\": \"bad\", \"lora_path\": \"../a1\"}"), 403, "lora_path", "outside");
        for (CompletableFuture<Http.Response> f : running) {
            Http.Response r = f.get();
            assertEquals(200, r.status(), r.body());
            assertEquals(referenceA1.get(0).text(), r.json().path("choices").get(0).path("text").asText());
        }
    }

    @Test
    void loadingAdaptersOnlyFromUnderTheRoot() throws Exception {
        // Escapes: .., an absolute path elsewhere, a symbolic link out of the root.
        assertError(http.post("/v1/load_lora_adapter", "{\"lora_name\": \"x\", \"lora_path\": \"../a1\"}"), 403, "lora_path", "outside");
        assertError(http.post("/v1/load_lora_adapter", "{\"lora_name\": \"x\", \"lora_path\": " + Http.quote(tmp.resolve("a1").toString()) + "}"),
                403, "lora_path", "outside");
        Files.createSymbolicLink(root.resolve("link"), tmp.resolve("a1"));
        assertError(http.post("/v1/load_lora_adapter", "{\"lora_name\": \"x\", \"lora_path\": \"link\"}"), 403, "lora_path", "outside");
        Path sneaky = Files.createDirectories(root.resolve("sneaky"));
        Files.copy(tmp.resolve("a1/adapter_config.json"), sneaky.resolve("adapter_config.json"));
        Files.createSymbolicLink(sneaky.resolve("adapter_model.safetensors"), tmp.resolve("a1/adapter_model.safetensors"));
        assertError(http.post("/v1/load_lora_adapter", "{\"lora_name\": \"x\", \"lora_path\": \"sneaky\"}"), 403, "lora_path", "outside");
        // Corrupt or incomplete folders: 400 with the reason.
        Path corrupt = Files.createDirectories(root.resolve("corrupt"));
        Files.writeString(corrupt.resolve("adapter_config.json"), "{not json");
        Files.copy(root.resolve("good/adapter_model.safetensors"), corrupt.resolve("adapter_model.safetensors"));
        assertError(http.post("/v1/load_lora_adapter", "{\"lora_name\": \"x\", \"lora_path\": \"corrupt\"}"), 400, "lora_path", "adapter_config.json");
        Path noWeights = Files.createDirectories(root.resolve("noweights"));
        Files.copy(root.resolve("good/adapter_config.json"), noWeights.resolve("adapter_config.json"));
        assertError(http.post("/v1/load_lora_adapter", "{\"lora_name\": \"x\", \"lora_path\": \"noweights\"}"), 400, "lora_path", "adapter_model.safetensors");
        Path truncated = Files.createDirectories(root.resolve("truncated"));
        Files.copy(root.resolve("good/adapter_config.json"), truncated.resolve("adapter_config.json"));
        byte[] w = Files.readAllBytes(root.resolve("good/adapter_model.safetensors"));
        Files.write(truncated.resolve("adapter_model.safetensors"), java.util.Arrays.copyOf(w, w.length / 2));
        assertError(http.post("/v1/load_lora_adapter", "{\"lora_name\": \"x\", \"lora_path\": \"truncated\"}"), 400, "lora_path", "");
        assertError(http.post("/v1/load_lora_adapter", "{\"lora_name\": \"x\", \"lora_path\": \"missing\"}"), 400, "lora_path", "does not exist");
        assertError(http.post("/v1/load_lora_adapter", "{\"lora_name\": \"stories260K\", \"lora_path\": \"good\"}"), 400, "lora_name", "base model");
        assertError(http.post("/v1/load_lora_adapter", "{\"lora_path\": \"good\"}"), 400, "lora_name", "lora_name");
        assertError(http.post("/v1/load_lora_adapter", "{oops"), 400, null, "JSON");
        // A good one loads, serves, refuses a second load under its name, and unloads.
        Http.Response ok = http.post("/v1/load_lora_adapter", "{\"lora_name\": \"good\", \"lora_path\": \"good\"}");
        assertEquals(200, ok.status(), ok.body());
        List<Completion> want = TestAdapters.generate(model, root.resolve("good"), List.of("The dog"), 20, 1);
        Http.Response r = http.post("/v1/completions", Http.completion("good", "The dog", 20));
        assertEquals(want.get(0).text(), r.json().path("choices").get(0).path("text").asText());
        assertError(http.post("/v1/load_lora_adapter", "{\"lora_name\": \"good\", \"lora_path\": \"good\"}"), 400, "lora_name", "already");
        assertEquals(200, http.post("/v1/unload_lora_adapter", "{\"lora_name\": \"good\"}").status());
        assertError(http.post("/v1/completions", Http.completion("good", "The dog", 5)), 404, "model", "good");
        assertError(http.post("/v1/unload_lora_adapter", "{\"lora_name\": \"good\"}"), 404, "lora_name", "good");
    }

    @Test
    void requestsBeyondTheSizeLimitAre413() {
        String huge = "{\"model\": \"a1\", \"prompt\": \"" + "x".repeat(2 << 20) + "\"}";
        Http.Response r = http.post("/v1/completions", huge);
        assertEquals(413, r.status(), r.body().substring(0, Math.min(200, r.body().length())));
    }
}
