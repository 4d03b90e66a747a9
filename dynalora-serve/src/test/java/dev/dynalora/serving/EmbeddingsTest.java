package dev.dynalora.serving;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** An encoder's POST /v1/embeddings: OpenAI's shape, unit vectors, each input independent of the others. */
class EmbeddingsTest {
    @Test
    void embeddingsOfAnEncoder() {
        Path model = TestAdapters.shared("all-MiniLM-L6-v2");
        try (OpenAiServer s = OpenAiServer.start(ServeOptions.defaults(model).withPort(0).withThreads(2))) {
            Http http = new Http(s.port());
            Http.Response both = http.post("/v1/embeddings", "{\"model\": \"all-MiniLM-L6-v2\", \"input\": [\"A man is eating food.\","
                    + " \"Someone is eating a meal, slowly, at the table.\", \"The stock market fell today.\"]}");
            assertEquals(200, both.status(), both.body());
            JsonNode data = both.json().path("data");
            assertEquals(3, data.size());
            assertEquals("list", both.json().path("object").asText());
            assertTrue(both.json().path("usage").path("prompt_tokens").asInt() > 10);
            float[][] v = new float[3][];
            for (int i = 0; i < 3; i++) {
                assertEquals(i, data.get(i).path("index").asInt());
                JsonNode e = data.get(i).path("embedding");
                assertEquals(384, e.size());
                v[i] = new float[384];
                double norm = 0;
                for (int j = 0; j < 384; j++) {
                    v[i][j] = (float) e.get(j).asDouble();
                    norm += v[i][j] * v[i][j];
                }
                assertEquals(1.0, norm, 1e-4);
            }
            assertTrue(dot(v[0], v[1]) > dot(v[0], v[2]) + 0.2, "paraphrases are closer than unrelated sentences");
            JsonNode alone = http.post("/v1/embeddings", "{\"model\": \"all-MiniLM-L6-v2\", \"input\": \"The stock market fell today.\"}")
                    .json().path("data").get(0).path("embedding");
            for (int j = 0; j < 384; j++) {
                assertEquals(v[2][j], (float) alone.get(j).asDouble(), "the same alone as beside other inputs");
            }
            assertEquals(400, http.post("/v1/embeddings", "{\"model\": \"all-MiniLM-L6-v2\", \"input\": \""
                    + "word ".repeat(600) + "\"}").status());
            assertEquals(400, http.post("/v1/embeddings", "{\"model\": \"all-MiniLM-L6-v2\", \"input\": 3}").status());
            assertEquals(404, http.post("/v1/embeddings", "{\"model\": \"other\", \"input\": \"x\"}").status());
            assertEquals(400, http.post("/v1/completions", Http.completion("all-MiniLM-L6-v2", "x", 3)).status());
            Http.Response chat = http.post("/v1/chat/completions", "{\"model\": \"all-MiniLM-L6-v2\", \"messages\": [{\"role\":"
                    + " \"user\", \"content\": \"x\"}]}");
            assertEquals(400, chat.status(), chat.body());
            assertTrue(chat.errorMessage().contains("needs a causal language model"), chat.body());
            assertEquals("all-MiniLM-L6-v2", http.get("/v1/models").json().path("data").get(0).path("id").asText());
        }
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }
}
