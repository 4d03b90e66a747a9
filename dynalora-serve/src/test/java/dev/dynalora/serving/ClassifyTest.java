package dev.dynalora.serving;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dynalora.data.Example;
import dev.dynalora.data.GlueTask;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.tokenize.TextTokenizer;
import dev.dynalora.training.EncodedExamples;
import dev.dynalora.training.GlueTrainer;
import dev.dynalora.training.Predictor;
import dev.dynalora.training.RunFolder;
import dev.dynalora.training.TrainConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * POST /v1/classify over two small LoRA runs of all-MiniLM-L6-v2 trained here (SST-2: single sentences, two
 * classes; STS-B: sentence pairs, a regression head): the server's labels and probabilities equal predict's code
 * path (Predictor on the same rows, the same run folder), each input alone; 404 and 400 in OpenAI's error shape.
 */
class ClassifyTest {
    @TempDir
    static Path tmp;
    static Path sst2;
    static Path stsb;
    static OpenAiServer server;
    static Http http;

    static final List<String> SENTENCES = List.of("a gorgeous , witty , seductive movie .",
            "the plot is nothing but boilerplate clichés from start to finish ,",
            "it 's a charming and often affecting journey . ",
            "unflinchingly bleak and desperate");

    @BeforeAll
    static void trainAndServe() {
        sst2 = train("sst2", 32, 3);
        stsb = train("stsb", 16, 5);
        server = OpenAiServer.start(ServeOptions.defaults(null).withPort(0).withThreads(2)
                .withClassifiers(Map.of("sentiment", sst2, "similarity", stsb)));
        http = new Http(server.port());
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    /** A LoRA run as {@code dynalora train --limit N --eval-limit 8 --epochs 1 --max-len 32} writes it. */
    static Path train(String task, int limit, long seed) {
        Path model = TestAdapters.shared("all-MiniLM-L6-v2").toAbsolutePath().normalize();
        Path glue = model.getParent().resolveSibling("glue");
        TrainConfig c = TrainConfig.builder().model(model.toString()).task(task).data(glue.toString()).method("lora")
                .targets(GlueTrainer.DEFAULT_TARGETS)
                .trainLimit(limit).evalLimit(8).epochs(1).batch(16).maxLen(32).lr(1e-3f).threads(2).seed(seed).build();
        Path out = tmp.resolve(task + "-run");
        try (CpuKernels k = new CpuKernels(2)) {
            new GlueTrainer(c, k, null).run(RunFolder.create(out, false));
        }
        return out;
    }

    /** Logits of each example alone, through predict's code path on the run folder. */
    static float[][] predictorLogits(Path runDir, List<Example> examples) {
        RunFolder run = RunFolder.open(runDir);
        TrainConfig c = run.readConfig();
        GlueTrainer.Built built = GlueTrainer.build(c);
        run.loadTrainable(built.trainable(), built.model());
        float[][] out = new float[examples.size()][];
        try (TextTokenizer tok = TextTokenizer.load(Path.of(c.model()), c.maxLen()); CpuKernels k = new CpuKernels(1)) {
            for (int i = 0; i < examples.size(); i++) {
                out[i] = Predictor.logits(k, built.model(), new EncodedExamples(List.of(examples.get(i)), tok), 1, null);
            }
            // predict's batches give the same labels
            float[] batched = Predictor.logits(k, built.model(), new EncodedExamples(examples, tok), 64, null);
            int n = built.model().numLabels();
            float[] single = new float[examples.size() * n];
            for (int i = 0; i < examples.size(); i++) {
                System.arraycopy(out[i], 0, single, i * n, n);
            }
            assertEquals(Predictor.predictionTexts(built.task(), batched, n), Predictor.predictionTexts(built.task(), single, n));
        }
        return out;
    }

    static Example row(String a, String b) {
        return new Example(a, b, Example.NO_LABEL, Float.NaN, 0, 0);
    }

    @Test
    void singleSentenceLabelsAndProbabilitiesArePredicts() {
        StringBuilder body = new StringBuilder("{\"model\": \"sentiment\", \"input\": [");
        List<Example> rows = new ArrayList<>();
        for (int i = 0; i < SENTENCES.size(); i++) {
            body.append(i > 0 ? "," : "").append(Http.quote(SENTENCES.get(i)));
            rows.add(row(SENTENCES.get(i), null));
        }
        Http.Response r = http.post("/v1/classify", body.append("]}").toString());
        assertEquals(200, r.status(), r.body());
        JsonNode json = r.json();
        assertEquals("list", json.path("object").asText());
        assertEquals("sentiment", json.path("model").asText());
        assertTrue(json.path("usage").path("prompt_tokens").asInt() > 20);
        assertEquals(json.path("usage").path("prompt_tokens").asInt(), json.path("usage").path("total_tokens").asInt());
        float[][] want = predictorLogits(sst2, rows);
        JsonNode data = json.path("data");
        assertEquals(SENTENCES.size(), data.size());
        for (int i = 0; i < SENTENCES.size(); i++) {
            JsonNode d = data.get(i);
            assertEquals(i, d.path("index").asInt());
            assertEquals(Predictor.predictionTexts(GlueTask.SST2, want[i], 2).get(0), d.path("label").asText());
            float[] p = dev.dynalora.training.Predictor.probabilities(want[i]);
            JsonNode got = d.path("probabilities");
            assertEquals(2, got.size());
            assertEquals(p[0], (float) got.get(0).asDouble(), "bit for bit: the same logits");
            assertEquals(p[1], (float) got.get(1).asDouble());
            assertEquals(1.0, got.get(0).asDouble() + got.get(1).asDouble(), 1e-6);
        }
        // Alone, the same answer as beside the others.
        JsonNode alone = http.post("/v1/classify", "{\"model\": \"sentiment\", \"input\": " + Http.quote(SENTENCES.get(2)) + "}")
                .json().path("data").get(0);
        assertEquals(data.get(2).path("label").asText(), alone.path("label").asText());
        assertEquals(data.get(2).path("probabilities"), alone.path("probabilities"));
        // Longer than the run's max length (32): cut as predict cuts it, not refused.
        String longText = "a gorgeous movie . ".repeat(100);
        Http.Response lr = http.post("/v1/classify", "{\"model\": \"sentiment\", \"input\": " + Http.quote(longText) + "}");
        assertEquals(200, lr.status(), lr.body());
        assertEquals(32, lr.json().path("usage").path("prompt_tokens").asInt());
        float[] lw = predictorLogits(sst2, List.of(row(longText, null)))[0];
        assertEquals(dev.dynalora.training.Predictor.probabilities(lw)[1], (float) lr.json().path("data").get(0).path("probabilities").get(1).asDouble());
    }

    @Test
    void pairsWithARegressionHeadScoreAsPredict() {
        String[][] pairs = {{"A man is playing a guitar.", "A man plays the guitar."},
                {"A woman is slicing an onion.", "The stock market fell sharply today."}};
        Http.Response one = http.post("/v1/classify", "{\"model\": \"similarity\", \"input\": [" + Http.quote(pairs[0][0]) + ","
                + Http.quote(pairs[0][1]) + "]}");
        assertEquals(200, one.status(), one.body());
        assertEquals(1, one.json().path("data").size());
        Http.Response both = http.post("/v1/classify", "{\"model\": \"similarity\", \"input\": [[" + Http.quote(pairs[0][0]) + ","
                + Http.quote(pairs[0][1]) + "], [" + Http.quote(pairs[1][0]) + "," + Http.quote(pairs[1][1]) + "]]}");
        assertEquals(200, both.status(), both.body());
        float[][] want = predictorLogits(stsb, List.of(row(pairs[0][0], pairs[0][1]), row(pairs[1][0], pairs[1][1])));
        JsonNode data = both.json().path("data");
        assertEquals(2, data.size());
        for (int i = 0; i < 2; i++) {
            String label = Predictor.predictionTexts(GlueTask.STSB, want[i], 1).get(0);
            assertEquals(label, data.get(i).path("label").asText());
            assertEquals(Math.max(0f, Math.min(5f, want[i][0])), (float) data.get(i).path("score").asDouble());
            assertTrue(data.get(i).path("probabilities").isMissingNode());
        }
        assertEquals(data.get(0), one.json().path("data").get(0));
    }

    /** A decoder with run-time adapter loading beside classifiers: an adapter may not take a classifier's name. */
    @Test
    void runTimeAdaptersCannotTakeAClassifiersName() throws Exception {
        Path root = java.nio.file.Files.createDirectories(tmp.resolve("adapter-root"));
        try (OpenAiServer both = OpenAiServer.start(ServeOptions.defaults(TestAdapters.shared("stories260K")).withPort(0)
                .withThreads(1).withAdapterRoot(root).withClassifiers(Map.of("sentiment", sst2)))) {
            Http h = new Http(both.port());
            Http.Response r = h.post("/v1/load_lora_adapter", "{\"lora_name\": \"sentiment\", \"lora_path\": \"a1\"}");
            assertEquals(400, r.status(), r.body());
            assertTrue(r.errorMessage().contains("classifier"), r.body());
        }
    }

    @Test
    void errorsInOpenAisShape() {
        Http.Response unknown = http.post("/v1/classify", "{\"model\": \"nope\", \"input\": \"x\"}");
        assertEquals(404, unknown.status());
        assertEquals("model_not_found", unknown.json().path("error").path("code").asText());
        assertEquals("invalid_request_error", unknown.json().path("error").path("type").asText());
        for (String bad : new String[] {
                "{\"model\": \"sentiment\", \"input\": [[\"a b\", \"c d\"]]}", // a pair for a single-sentence task
                "{\"model\": \"sentiment\", \"input\": []}",
                "{\"model\": \"sentiment\", \"input\": \"  \"}",
                "{\"model\": \"sentiment\"}",
                "{\"model\": \"sentiment\", \"input\": 3}",
                "{\"model\": \"similarity\", \"input\": \"only one sentence\"}", // one sentence for a pair task
                "{\"model\": \"similarity\", \"input\": [\"a\", \"b\", \"c\"]}",
                "{\"model\": \"similarity\", \"input\": [[\"a\", \"\"]]}",
                "{\"input\": \"x\"}",
                "not json"}) {
            Http.Response r = http.post("/v1/classify", bad);
            assertEquals(400, r.status(), bad + " -> " + r.body());
            assertEquals("invalid_request_error", r.json().path("error").path("type").asText(), bad);
        }
        assertTrue(http.post("/v1/classify", "{\"model\": \"sentiment\", \"input\": [[\"a b\", \"c d\"]]}").errorMessage()
                .contains("single sentences"));
        // Neither embeddings nor completions on a classifiers-only server.
        assertEquals(400, http.post("/v1/embeddings", "{\"model\": \"sentiment\", \"input\": \"x\"}").status());
        assertEquals(400, http.post("/v1/completions", Http.completion("sentiment", "x", 3)).status());
        JsonNode models = http.get("/v1/models").json().path("data");
        assertEquals(2, models.size());
        List<String> ids = new ArrayList<>();
        for (JsonNode m : models) {
            ids.add(m.path("id").asText());
            assertEquals("all-MiniLM-L6-v2", m.path("parent").asText());
            assertEquals(32, m.path("max_model_len").asInt());
        }
        assertTrue(ids.contains("sentiment") && ids.contains("similarity"), ids.toString());
    }
}
