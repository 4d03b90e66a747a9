package dev.dynalora.serving;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.NotFoundException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.chat.completions.ChatCompletionTokenLogprob;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.models.Model;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The official OpenAI Java SDK against a running server: completions and chat (plain and streamed), models, errors. */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class OpenAiClientTest {
    @TempDir
    Path tmp;

    @Test
    void theOfficialClientTalksToTheServer() {
        Path model = TestAdapters.shared("stories260K");
        TestAdapters.write(model, tmp.resolve("a1"), 1);
        List<dev.dynalora.generation.Completion> want = TestAdapters.generate(model, tmp.resolve("a1"), List.of("Once upon a time"), 30, 1);
        try (OpenAiServer s = OpenAiServer.start(ServeOptions.defaults(model).withPort(0).withThreads(2).withApiKey("k3y")
                .withAdapters(Map.of("a1", tmp.resolve("a1"))))) {
            String url = "http://127.0.0.1:" + s.port() + "/v1";
            OpenAIClient client = OpenAIOkHttpClient.builder().baseUrl(url).apiKey("k3y").maxRetries(0).build();
            CompletionCreateParams params = CompletionCreateParams.builder().model("a1").prompt("Once upon a time")
                    .maxTokens(30).temperature(0.0).build();
            Completion c = client.completions().create(params);
            assertEquals(want.get(0).text(), c.choices().get(0).text());
            assertEquals(want.get(0).finishReason().json(), c.choices().get(0).finishReason().asString());
            assertEquals(want.get(0).completionIds().length, c.usage().orElseThrow().completionTokens());

            StringBuilder streamed = new StringBuilder();
            try (StreamResponse<Completion> stream = client.completions().createStreaming(params)) {
                stream.stream().forEach(chunk -> chunk.choices().forEach(ch -> streamed.append(ch.text())));
            }
            assertEquals(want.get(0).text(), streamed.toString());

            List<String> ids = client.models().list().data().stream().map(Model::id).collect(Collectors.toList());
            assertEquals(List.of("stories260K", "a1"), ids);

            assertThrows(NotFoundException.class, () -> client.completions().create(params.toBuilder().model("nope").build()));
            BadRequestException bad = assertThrows(BadRequestException.class, () -> client.completions().create(
                    params.toBuilder().prompt("Once upon a time ".repeat(300)).build()));
            assertTrue(bad.getMessage().contains("512"), bad.getMessage());
            OpenAIClient stranger = OpenAIOkHttpClient.builder().baseUrl(url).apiKey("wrong").maxRetries(0).build();
            assertThrows(UnauthorizedException.class, () -> stranger.completions().create(params));
        }
    }

    @Test
    void theOfficialClientChatsWithTheServer() {
        Path model = ChatModels.withTemplate("stories260K", tmp.resolve("stories260K-chat"), ChatModels.LLAMA2);
        TestAdapters.write(model, tmp.resolve("a1"), 1);
        // What generate gives the rendered conversation (less the "<s>" generate adds itself), with the adapter.
        dev.dynalora.generation.Completion want = TestAdapters.generate(model, tmp.resolve("a1"),
                List.of("[INST] <<SYS>>\nYou tell stories.\n<</SYS>>\n\nThe dog [/INST]"), 30, 1).get(0);
        try (OpenAiServer s = OpenAiServer.start(ServeOptions.defaults(model).withPort(0).withThreads(2)
                .withAdapters(Map.of("a1", tmp.resolve("a1"))))) {
            // responseValidation: every answer must have the shape and types the SDK's models declare.
            OpenAIClient client = OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + s.port() + "/v1").apiKey("none")
                    .maxRetries(0).responseValidation(true).build();
            ChatCompletionCreateParams params = ChatCompletionCreateParams.builder().model("a1")
                    .addSystemMessage("You tell stories.").addUserMessage("The dog")
                    .maxCompletionTokens(30).temperature(0.0).logprobs(true).topLogprobs(3).build();
            ChatCompletion c = client.chat().completions().create(params);
            assertTrue(c.id().startsWith("chatcmpl-"), c.id());
            ChatCompletion.Choice choice = c.choices().get(0);
            assertEquals(want.text(), choice.message().content().orElseThrow());
            assertEquals(want.finishReason().json(), choice.finishReason().asString());
            assertEquals(want.completionIds().length, c.usage().orElseThrow().completionTokens());
            assertEquals(want.promptIds().length, c.usage().orElseThrow().promptTokens());
            List<ChatCompletionTokenLogprob> lps = choice.logprobs().orElseThrow().content().orElseThrow();
            assertEquals(want.completionIds().length, lps.size());
            for (int t = 0; t < lps.size(); t++) {
                assertEquals(want.topLogprobs().get(t).logprobs()[0], (float) lps.get(t).logprob(), "token " + t);
                assertEquals(3, lps.get(t).topLogprobs().size());
            }

            StringBuilder streamed = new StringBuilder();
            List<String> finish = new java.util.ArrayList<>();
            long[] usage = {-1};
            try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(params.toBuilder()
                    .logprobs(false).topLogprobs(java.util.Optional.empty())
                    .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build())) {
                stream.stream().forEach(chunk -> {
                    chunk.usage().ifPresent(u -> usage[0] = u.completionTokens());
                    chunk.choices().forEach(ch -> {
                        ch.delta().content().ifPresent(streamed::append);
                        ch.finishReason().ifPresent(f -> finish.add(f.asString()));
                    });
                });
            }
            assertEquals(want.text(), streamed.toString());
            assertEquals(List.of(want.finishReason().json()), finish);
            assertEquals(want.completionIds().length, usage[0]);

            BadRequestException bad = assertThrows(BadRequestException.class, () -> client.chat().completions().create(
                    params.toBuilder().messages(List.of()).addUserMessage("a").addUserMessage("b").build()));
            assertTrue(bad.getMessage().contains("Conversation roles must alternate"), bad.getMessage());
            assertThrows(NotFoundException.class, () -> client.chat().completions().create(params.toBuilder().model("nope").build()));
        }
    }
}
