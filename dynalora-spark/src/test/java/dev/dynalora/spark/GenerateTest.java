package dev.dynalora.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.UserInputException;
import dev.dynalora.generation.GenerationConfig;
import org.apache.spark.SparkException;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DynaloraSpark.generate in local[2] against dynalora generate on the same prompts, line by line: greedy and
 * sampled, with and without an adapter, over several partitions (whose rows are generated in other batches than
 * generate's, and sampled with the seeds of their lines).
 */
@Timeout(300)
class GenerateTest {
    static SparkSession spark;
    static Path model;
    static Path adapter;
    static final List<String> PROMPTS = new ArrayList<>();

    @BeforeAll
    static void start() {
        model = Fixtures.shared().resolve("models/stories260K");
        String[] starts = {"Once upon a time", "The little dog", "Lily and Ben", "One day, a girl", "The sun was",
                "Tom had a red ball", "In the park", "Mom said", "The cat", "A big bird", "They went to",
                "She was happy", "The box was", "He saw a", "At night"};
        for (int i = 0; i < 15; i++) {
            PROMPTS.add(starts[i]);
        }
        adapter = Fixtures.dir().resolve("random-adapters");
        String err = Fixtures.cli("bench", "random-adapters", "--model", model.toString(), "--count", "1", "--out",
                adapter.toString(), "--scale", "0.5", "--seed", "3");
        if (err != null) {
            throw new IllegalStateException("writing a random adapter failed: " + err);
        }
        adapter = adapter.resolve("a0");
        spark = Fixtures.spark("local[2]");
    }

    @AfterAll
    static void stop() {
        spark.stop();
        DynaloraSpark.clearCache();
    }

    /** dynalora generate's completion and finish reason for every prompt, in order, run in-process. */
    static List<String[]> cliGenerate(String tag, String... flags) throws Exception {
        Path in = Fixtures.dir().resolve("prompts-" + tag + ".jsonl");
        Path out = Fixtures.dir().resolve("generated-" + tag + ".jsonl");
        ObjectMapper om = new ObjectMapper();
        StringBuilder b = new StringBuilder();
        for (String p : PROMPTS) {
            b.append(om.writeValueAsString(java.util.Map.of("prompt", p))).append('\n');
        }
        Files.writeString(in, b);
        List<String> args = new ArrayList<>(List.of("generate", "--model", model.toString(), "--input", in.toString(),
                "--output", out.toString(), "--overwrite", "--threads", "1"));
        args.addAll(List.of(flags));
        String err = Fixtures.cli(args.toArray(String[]::new));
        assertEquals(null, err);
        List<String[]> result = new ArrayList<>();
        for (String line : Files.readAllLines(out)) {
            JsonNode n = om.readTree(line);
            result.add(new String[] {n.get("completion").asText(), n.get("finish_reason").asText()});
        }
        return result;
    }

    static Dataset<Row> frame(int partitions) {
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < PROMPTS.size(); i++) {
            rows.add(RowFactory.create(i, PROMPTS.get(i)));
        }
        StructType schema = new StructType().add("id", DataTypes.IntegerType).add("prompt", DataTypes.StringType);
        return spark.createDataFrame(JavaSparkContext.fromSparkContext(spark.sparkContext()).parallelize(rows, partitions), schema);
    }

    static void assertSameRows(List<String[]> expected, List<Row> rows) {
        assertEquals(expected.size(), rows.size());
        for (int i = 0; i < rows.size(); i++) {
            Row r = rows.get(i);
            assertEquals(i, r.getInt(0), "rows keep their order");
            assertEquals(PROMPTS.get(i), r.getString(1));
            assertEquals(expected.get(i)[0], r.getString(2), "completion of row " + i);
            assertEquals(expected.get(i)[1], r.getString(3), "finish reason of row " + i);
        }
    }

    private static DynaloraSpark.GenerateOptions options(int maxNew, float temperature, int topK, long seed, int batch) {
        return new DynaloraSpark.GenerateOptions(new GenerationConfig(maxNew, temperature, topK,
                GenerationConfig.NO_TOP_P, seed, List.of(), 0, false), batch, 1);
    }

    @Test
    void greedyCompletionsEqualDynaloraGenerate() throws Exception {
        List<String[]> expected = cliGenerate("greedy", "--max-new-tokens", "24");
        assertTrue(expected.stream().anyMatch(e -> e[0].length() > 10), "the model generated text");
        assertSameRows(expected, DynaloraSpark.generate(frame(3), "prompt", model, null,
                options(24, 0f, 0, 0, 8)).collectAsList());
        // Another batch size and partitioning: the same rows.
        assertSameRows(expected, DynaloraSpark.generate(frame(4), "prompt", model, null,
                options(24, 0f, 0, 0, 3)).collectAsList());
    }

    @Test
    void sampledCompletionsUseTheSeedOfTheirLine() throws Exception {
        List<String[]> expected = cliGenerate("sampled", "--max-new-tokens", "20", "--temperature", "1", "--top-k", "40",
                "--seed", "11");
        List<Row> rows = DynaloraSpark.generate(frame(4), "prompt", model, null, options(20, 1f, 40, 11, 8))
                .collectAsList();
        assertSameRows(expected, rows);
        // A different seed samples differently (so the comparison above is not one of greedy runs).
        List<Row> other = DynaloraSpark.generate(frame(4), "prompt", model, null, options(20, 1f, 40, 12, 8))
                .collectAsList();
        int differ = 0;
        for (int i = 0; i < rows.size(); i++) {
            differ += rows.get(i).getString(2).equals(other.get(i).getString(2)) ? 0 : 1;
        }
        assertTrue(differ > PROMPTS.size() / 2, "seed 12 changed only " + differ + " completions");
    }

    @Test
    void anAdapterGeneratesAsGenerateAdapter() throws Exception {
        List<String[]> base = cliGenerate("base16", "--max-new-tokens", "16");
        List<String[]> expected = cliGenerate("adapter", "--max-new-tokens", "16", "--adapter", adapter.toString());
        int differ = 0;
        for (int i = 0; i < base.size(); i++) {
            differ += base.get(i)[0].equals(expected.get(i)[0]) ? 0 : 1;
        }
        assertNotEquals(0, differ, "the adapter changes the completions");
        assertSameRows(expected, DynaloraSpark.generate(frame(2), "prompt", model, adapter,
                options(16, 0f, 0, 0, 8)).collectAsList());
    }

    @Test
    void wrongInputIsOneClearError() {
        UserInputException e = assertThrows(UserInputException.class, () ->
                DynaloraSpark.generate(frame(1), "text", model, null, options(4, 0f, 0, 0, 8)));
        assertTrue(e.getMessage().contains("no column text"), e.getMessage());
        e = assertThrows(UserInputException.class, () ->
                DynaloraSpark.generate(frame(1), "prompt", model.resolve("missing"), null, options(4, 0f, 0, 0, 8)));
        assertTrue(e.getMessage().contains("config.json"), e.getMessage());
        // A prompt longer than the context fails its task with the row's number.
        List<Row> rows = List.of(RowFactory.create(0, "Once"), RowFactory.create(1, "word ".repeat(600)));
        StructType schema = new StructType().add("id", DataTypes.IntegerType).add("prompt", DataTypes.StringType);
        Dataset<Row> df = spark.createDataFrame(rows, schema);
        SparkException se = assertThrows(SparkException.class, () ->
                DynaloraSpark.generate(df, "prompt", model, null, options(4, 0f, 0, 0, 8)).collectAsList());
        assertTrue(String.valueOf(se.getMessage()).contains("row 2: the prompt in column prompt has"), se.getMessage());
    }
}
