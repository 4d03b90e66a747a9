package dev.dynalora.serving;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dynalora.generation.Completion;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * POST /v1/chat/completions over HTTP, on stories260K with Llama 2's chat template: greedy answers (whole and
 * streamed, for the base and an adapter) are what generate gives the rendered prompt, token for token; and the
 * refusals (no template, a template's raise_exception, parts that are not text, an encoder).
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ChatCompletionsTest {
    static final int MAX_TOKENS = 40;
    /** The rendered prompt of {@link #CONVERSATION}, less the "&lt;s&gt;" that generate adds itself. */
    static final String RENDERED = "[INST] <<SYS>>\nYou tell stories.\n<</SYS>>\n\nOnce upon a time [/INST]";
    static final String CONVERSATION = "[{\"role\": \"system\", \"content\": \"You tell stories.\"},"
            + " {\"role\": \"user\", \"content\": \"Once upon a time\"}]";

    @TempDir
    static Path tmp;
    static Path model;
    static OpenAiServer server;
    static Http http;
    static Completion base;
    static Completion a1;

    @BeforeAll
    static void start() {
        model = ChatModels.withTemplate("stories260K", tmp.resolve("stories260K-chat"), ChatModels.LLAMA2);
        TestAdapters.write(model, tmp.resolve("a1"), 1);
        base = TestAdapters.generate(model, null, List.of(RENDERED), MAX_TOKENS, 1).get(0);
        a1 = TestAdapters.generate(model, tmp.resolve("a1"), List.of(RENDERED), MAX_TOKENS, 1).get(0);
        assertFalse(base.text().equals(a1.text()), "the adapter changes the answer");
        server = OpenAiServer.start(ServeOptions.defaults(model).withPort(0).withThreads(2)
                .withAdapters(Map.of("a1", tmp.resolve("a1"))));
        http = new Http(server.port());
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    static String chat(String model, String messages, String more) {
        return "{\"model\": " + Http.quote(model) + ", \"messages\": " + messages + ", \"max_tokens\": " + MAX_TOKENS
                + ", \"temperature\": 0" + more + "}";
    }

    @Test
    void aGreedyAnswerIsWhatGenerateGivesTheRenderedPrompt() {
        for (String name : new String[] {"stories260K-chat", "a1"}) {
            Completion want = name.equals("a1") ? a1 : base;
            Http.Response r = http.post("/v1/chat/completions", chat(name, CONVERSATION, ", \"logprobs\": true, \"top_logprobs\": 2"));
            assertEquals(200, r.status(), r.body());
            JsonNode j = r.json();
            assertTrue(j.path("id").asText().startsWith("chatcmpl-"), r.body());
            assertEquals("chat.completion", j.path("object").asText());
            assertEquals(name, j.path("model").asText());
            assertTrue(j.path("created").asLong() > 1_600_000_000L);
            JsonNode ch = j.path("choices").get(0);
            assertEquals(1, j.path("choices").size());
            assertEquals(0, ch.path("index").asInt());
            assertEquals("assistant", ch.path("message").path("role").asText());
            assertEquals(want.text(), ch.path("message").path("content").asText(), name);
            assertEquals(want.finishReason().json(), ch.path("finish_reason").asText());
            // The prompt generate ran: BOS + the rendered text's tokens, exactly as many as the chat's prompt.
            assertEquals(want.promptIds().length, j.path("usage").path("prompt_tokens").asInt());
            assertEquals(want.completionIds().length, j.path("usage").path("completion_tokens").asInt());
            assertEquals(want.promptIds().length + want.completionIds().length, j.path("usage").path("total_tokens").asInt());
            JsonNode content = ch.path("logprobs").path("content");
            assertEquals(want.completionIds().length, content.size(), r.body());
            for (int t = 0; t < content.size(); t++) {
                JsonNode e = content.get(t);
                float lp = want.topLogprobs().get(t).logprobs()[0];
                assertEquals(lp, (float) e.path("logprob").asDouble(), name + ", token " + t);
                assertEquals(2, e.path("top_logprobs").size());
                assertEquals(lp, (float) e.path("top_logprobs").get(0).path("logprob").asDouble(), "greedy: the top token is chosen");
                byte[] bytes = e.path("token").asText().getBytes(java.nio.charset.StandardCharsets.UTF_8);
                assertEquals(bytes.length, e.path("bytes").size());
            }
        }
    }

    @Test
    void chatsBatchedWithEachOtherAndWithCompletionsStayWhatGenerateGives() throws Exception {
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(12);
        try {
            List<java.util.concurrent.Future<Http.Response>> chats = new ArrayList<>();
            List<java.util.concurrent.Future<Http.Response>> completions = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                String name = i % 2 == 0 ? "a1" : "stories260K-chat";
                chats.add(pool.submit(() -> http.post("/v1/chat/completions", chat(name, CONVERSATION, ", \"logprobs\": true"))));
                completions.add(pool.submit(() -> http.post("/v1/completions", Http.completion(name, "The dog", MAX_TOKENS))));
            }
            for (int i = 0; i < chats.size(); i++) {
                Completion want = i % 2 == 0 ? a1 : base;
                Http.Response r = chats.get(i).get();
                assertEquals(200, r.status(), r.body());
                JsonNode ch = r.json().path("choices").get(0);
                assertEquals(want.text(), ch.path("message").path("content").asText(), "chat " + i);
                JsonNode content = ch.path("logprobs").path("content");
                for (int t = 0; t < content.size(); t++) {
                    assertEquals(want.topLogprobs().get(t).logprobs()[0], (float) content.get(t).path("logprob").asDouble(),
                            "chat " + i + ", token " + t + ": bit for bit");
                }
                assertEquals(200, completions.get(i).get().status());
            }
        } finally {
            pool.shutdownNow();
        }
        assertTrue(server.batchingSeen()[0] > 1, "requests shared decode steps: " + server.batchingSeen()[0]);
    }

    @Test
    void streamedAnswersComeAsChatCompletionChunks() {
        Http.Response r = http.post("/v1/chat/completions", chat("a1", CONVERSATION,
                ", \"stream\": true, \"stream_options\": {\"include_usage\": true}"));
        assertEquals(200, r.status(), r.body());
        String[] events = r.body().split("\n\n");
        assertEquals("data: [DONE]", events[events.length - 1]);
        List<JsonNode> chunks = new ArrayList<>();
        for (int i = 0; i < events.length - 1; i++) {
            assertTrue(events[i].startsWith("data: "), events[i]);
            chunks.add(new Http.Response(200, events[i].substring(6)).json());
        }
        String id = chunks.get(0).path("id").asText();
        assertTrue(id.startsWith("chatcmpl-"), id);
        for (JsonNode c : chunks) {
            assertEquals("chat.completion.chunk", c.path("object").asText());
            assertEquals(id, c.path("id").asText());
        }
        JsonNode first = chunks.get(0).path("choices").get(0);
        assertEquals("assistant", first.path("delta").path("role").asText());
        assertEquals("", first.path("delta").path("content").asText());
        JsonNode usage = chunks.get(chunks.size() - 1);
        assertEquals(0, usage.path("choices").size());
        assertEquals(a1.completionIds().length, usage.path("usage").path("completion_tokens").asInt());
        assertEquals(a1.promptIds().length, usage.path("usage").path("prompt_tokens").asInt());
        StringBuilder text = new StringBuilder();
        String finish = null;
        for (int i = 1; i < chunks.size() - 1; i++) {
            JsonNode ch = chunks.get(i).path("choices").get(0);
            assertFalse(ch.path("delta").has("role"), "the role comes once");
            assertEquals(null, finish, "nothing after the finish_reason");
            text.append(ch.path("delta").path("content").asText(""));
            if (!ch.path("finish_reason").isNull()) {
                finish = ch.path("finish_reason").asText();
            }
        }
        assertEquals(a1.text(), text.toString());
        assertEquals(a1.finishReason().json(), finish);
        assertTrue(chunks.size() > 4, "the text came in pieces: " + chunks.size() + " chunks");
    }

    @Test
    void stopStringsAndSeveralChoices() {
        String stop = base.text().substring(base.text().length() / 2, base.text().length() / 2 + 3);
        Http.Response r = http.post("/v1/chat/completions", chat("stories260K-chat", CONVERSATION,
                ", \"n\": 2, \"stop\": [" + Http.quote(stop) + "]"));
        assertEquals(200, r.status(), r.body());
        JsonNode choices = r.json().path("choices");
        assertEquals(2, choices.size());
        for (int i = 0; i < 2; i++) {
            assertEquals(i, choices.get(i).path("index").asInt());
            assertEquals(base.text().substring(0, base.text().indexOf(stop)), choices.get(i).path("message").path("content").asText());
            assertEquals("stop", choices.get(i).path("finish_reason").asText());
        }
        assertEquals(base.promptIds().length, r.json().path("usage").path("prompt_tokens").asInt(), "the prompt counts once");
    }

    private static void assertError(Http.Response r, int status, String param, String messagePart) {
        assertEquals(status, r.status(), r.body());
        JsonNode e = r.json().path("error");
        if (param != null) {
            assertEquals(param, e.path("param").asText(), r.body());
        }
        assertTrue(e.path("message").asText().contains(messagePart), r.body());
        assertFalse(r.body().contains("\tat "), "no stack trace: " + r.body());
    }

    @Test
    void refusals() {
        assertError(http.post("/v1/chat/completions", chat("a1", "[{\"role\": \"user\", \"content\": \"a\"},"
                + " {\"role\": \"user\", \"content\": \"b\"}]", "")), 400, "messages", "Conversation roles must alternate");
        assertError(http.post("/v1/chat/completions", chat("a1", "[{\"role\": \"user\", \"content\": [{\"type\": \"input_audio\","
                + " \"input_audio\": {\"data\": \"AAAA\", \"format\": \"wav\"}}]}]", "")), 400, "messages", "\"input_audio\"");
        assertError(http.post("/v1/chat/completions", chat("nope", CONVERSATION, "")), 404, "model", "nope");
        assertError(http.post("/v1/chat/completions", chat("a1", CONVERSATION, ", \"top_logprobs\": 3")), 400, "top_logprobs", "logprobs");
        assertError(http.post("/v1/chat/completions", chat("a1", "[{\"role\": \"user\", \"content\": \""
                + "Once upon a time ".repeat(200) + "\"}]", "")), 400, "messages", "maximum context length is 512 tokens");
        assertError(http.post("/v1/chat/completions", "{\"model\": \"a1\", \"messages\": "), 400, null, "not valid JSON");
        // Text parts are joined as one string: the same answer as the plain string.
        Http.Response parts = http.post("/v1/chat/completions", chat("stories260K-chat", "[{\"role\": \"system\", \"content\":"
                + " [{\"type\": \"text\", \"text\": \"You tell stories.\"}]}, {\"role\": \"user\", \"content\": \"Once upon a time\"}]", ""));
        assertEquals(base.text(), parts.json().path("choices").get(0).path("message").path("content").asText(), parts.body());
        assertTrue(http.get("/metrics").body().contains("route=\"/v1/chat/completions\""), "counted under its route");
    }

    @Test
    void withoutATemplateTheRouteSaysHowToGiveOne() throws Exception {
        Path plain = TestAdapters.shared("stories260K");
        try (OpenAiServer s = OpenAiServer.start(ServeOptions.defaults(plain).withPort(0).withThreads(1))) {
            assertError(new Http(s.port()).post("/v1/chat/completions", chat("stories260K", CONVERSATION, "")), 400, null,
                    "the model has no chat template (tokenizer_config.json has no chat_template); start the server with"
                            + " --chat-template FILE");
        }
        Path file = Files.writeString(tmp.resolve("llama2.jinja"), ChatModels.LLAMA2 + "\n");
        try (OpenAiServer s = OpenAiServer.start(ServeOptions.defaults(plain).withPort(0).withThreads(1).withChatTemplate(file))) {
            Http.Response r = new Http(s.port()).post("/v1/chat/completions", chat("stories260K", CONVERSATION, ""));
            assertEquals(200, r.status(), r.body());
            assertEquals(base.text(), r.json().path("choices").get(0).path("message").path("content").asText());
        }
    }
}
