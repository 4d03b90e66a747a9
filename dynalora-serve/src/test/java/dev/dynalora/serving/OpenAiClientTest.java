package dev.dynalora.serving;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.NotFoundException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.models.Model;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The official OpenAI Java SDK against a running server: completions (plain and streamed), models, errors. */
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
}
