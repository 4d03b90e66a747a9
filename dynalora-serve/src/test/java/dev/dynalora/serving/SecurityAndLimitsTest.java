package dev.dynalora.serving;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The API key, loading switched off without an adapter root, the bounded queue and shutdown. */
class SecurityAndLimitsTest {
    static final Path MODEL = TestAdapters.shared("stories260K");

    @Test
    void theApiKeyGuardsEveryV1RouteButNotHealthOrMetrics() {
        try (OpenAiServer s = OpenAiServer.start(ServeOptions.defaults(MODEL).withPort(0).withThreads(1).withApiKey("s3cret"))) {
            Http none = new Http(s.port());
            Http wrong = new Http(s.port(), "s3cre");
            Http right = new Http(s.port(), "s3cret");
            assertEquals(401, none.get("/v1/models").status());
            assertEquals(401, wrong.get("/v1/models").status());
            Http.Response r = wrong.post("/v1/completions", Http.completion("stories260K", "Hi", 2));
            assertEquals(401, r.status());
            assertEquals("invalid_api_key", r.json().path("error").path("code").asText());
            assertEquals(200, right.get("/v1/models").status());
            assertEquals(200, right.post("/v1/completions", Http.completion("stories260K", "Hi", 2)).status());
            assertEquals(200, none.get("/health").status());
            assertEquals(200, none.get("/metrics").status());
        }
    }

    @Test
    void loadingAdaptersIsOffWithoutAnAdapterRoot() {
        try (OpenAiServer s = OpenAiServer.start(ServeOptions.defaults(MODEL).withPort(0).withThreads(1))) {
            Http.Response r = new Http(s.port()).post("/v1/load_lora_adapter", "{\"lora_name\": \"x\", \"lora_path\": \"/tmp\"}");
            assertEquals(403, r.status(), r.body());
            assertTrue(r.errorMessage().contains("--adapter-root"), r.body());
        }
    }

    @Test
    void aFullQueueAnswers429AndShutdownLetsRunningRequestsFinish() throws Exception {
        OpenAiServer s = OpenAiServer.start(ServeOptions.defaults(MODEL).withPort(0).withThreads(1).withLimits(4, 1, 2));
        Http http = new Http(s.port());
        Http.Response r = http.post("/v1/completions", "{\"model\": \"stories260K\", \"prompt\": [\"a\", \"b\", \"c\"], \"max_tokens\": 2}");
        assertEquals(429, r.status(), r.body());
        assertEquals("queue_full", r.json().path("error").path("code").asText());
        var running = java.util.concurrent.CompletableFuture.supplyAsync(() ->
                http.post("/v1/completions", "{\"model\": \"stories260K\", \"prompt\": \"Once upon a time\", \"max_tokens\": 200,"
                        + " \"temperature\": 0, \"stop\": \"zzzqqq\"}"));
        // Shut down only once the request is running (a decode step has run): one that has not reached the server
        // yet when the listener closes would get a closed connection, which is not what this test is about.
        long until = System.nanoTime() + 60_000_000_000L;
        while (s.batchingSeen()[0] == 0 && System.nanoTime() < until && !running.isDone()) {
            Thread.sleep(5);
        }
        assertTrue(s.batchingSeen()[0] > 0 || running.isDone(), "the request never started");
        assertTrue(s.shutdown(60_000), "finished within the grace period");
        Http.Response done = running.get();
        assertEquals(200, done.status(), done.body());
    }
}
