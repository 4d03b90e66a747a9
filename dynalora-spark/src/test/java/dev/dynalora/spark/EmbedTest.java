package dev.dynalora.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.UserInputException;
import dev.dynalora.cli.Main;
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

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** DynaloraSpark.embed in local[2] against dynalora embed on the same lines. */
class EmbedTest {
    static SparkSession spark;
    static Path model;
    static List<String[]> texts = new ArrayList<>();

    @BeforeAll
    static void start() {
        model = Fixtures.tinyModel();
        List<String> lines = Fixtures.sst2TestLines(21);
        for (int i = 1; i < lines.size() - 1; i++) {
            texts.add(new String[] {lines.get(i).split("\t")[1], lines.get(i + 1).split("\t")[1]});
        }
        spark = Fixtures.spark("local[2]");
    }

    @AfterAll
    static void stop() {
        spark.stop();
        DynaloraSpark.clearCache();
    }

    /** dynalora embed's "embedding" of each line, run in-process. */
    static List<float[]> cliEmbeddings(boolean pairs, String... flags) throws Exception {
        StringBuilder in = new StringBuilder();
        for (String[] t : texts) {
            in.append(t[0]).append(pairs ? "\t" + t[1] : "").append('\n');
        }
        Path file = Fixtures.dir().resolve(pairs ? "embed-pairs.txt" : "embed-lines.txt");
        Files.writeString(file, in);
        List<String> args = new ArrayList<>(List.of("embed", "--model", model.toString(), "--input", file.toString(), "--threads", "2"));
        args.addAll(List.of(flags));
        PrintStream old = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (PrintStream p = new PrintStream(out, true, StandardCharsets.UTF_8)) {
            System.setOut(p);
            assertEquals(0, Main.commandLine().execute(args.toArray(String[]::new)));
        } finally {
            System.setOut(old);
        }
        List<float[]> result = new ArrayList<>();
        ObjectMapper om = new ObjectMapper();
        for (String line : out.toString(StandardCharsets.UTF_8).split("\n")) {
            JsonNode e = om.readTree(line).get("embedding");
            float[] v = new float[e.size()];
            for (int j = 0; j < v.length; j++) {
                v[j] = (float) e.get(j).asDouble();
            }
            result.add(v);
        }
        return result;
    }

    static Dataset<Row> frame(int partitions) {
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            rows.add(RowFactory.create(i, texts.get(i)[0], texts.get(i)[1]));
        }
        StructType schema = new StructType().add("id", DataTypes.IntegerType).add("a", DataTypes.StringType)
                .add("b", DataTypes.StringType);
        return spark.createDataFrame(JavaSparkContext.fromSparkContext(spark.sparkContext()).parallelize(rows, partitions), schema);
    }

    static void assertSame(List<float[]> expected, List<Row> rows, float tolerance) {
        assertEquals(expected.size(), rows.size());
        for (int i = 0; i < rows.size(); i++) {
            assertEquals(i, rows.get(i).getInt(0));
            List<Float> got = rows.get(i).getList(3);
            assertEquals(expected.get(i).length, got.size());
            for (int j = 0; j < got.size(); j++) {
                float e = expected.get(i)[j];
                if (tolerance == 0f) {
                    assertEquals(e, got.get(j), "row " + i + " dim " + j); // JSON prints the float exactly
                } else {
                    assertEquals(e, got.get(j), tolerance, "row " + i + " dim " + j);
                }
            }
        }
    }

    @Test
    void embedEqualsDynaloraEmbed() throws Exception {
        // One partition batches the 20 lines as embed does (one batch of 32): the same floats. (The tiny model
        // has 64 positions, embed's default --max-len is 512.)
        List<float[]> mean = cliEmbeddings(false, "--max-len", "64");
        DynaloraSpark.EmbedOptions len64 = new DynaloraSpark.EmbedOptions(false, false, 64, 32, 0);
        assertSame(mean, DynaloraSpark.embed(frame(1), "a", null, model, len64).collectAsList(), 0f);
        // Three partitions batch them otherwise: equal to float rounding.
        assertSame(mean, DynaloraSpark.embed(frame(3), "a", null, model, len64).collectAsList(), 1e-5f);
        // Pairs, first-token pooling, normalised, as embed --pooling cls --normalize --max-len 16 with TABs.
        DynaloraSpark.EmbedOptions o = new DynaloraSpark.EmbedOptions(true, true, 16, 32, 0);
        assertSame(cliEmbeddings(true, "--pooling", "cls", "--normalize", "--max-len", "16"),
                DynaloraSpark.embed(frame(1), "a", "b", model, o).collectAsList(), 0f);
    }

    @Test
    void tooLongMaxLenIsRefusedOnTheDriver() {
        UserInputException e = assertThrows(UserInputException.class, () ->
                DynaloraSpark.embed(frame(1), "a", null, model, new DynaloraSpark.EmbedOptions(false, false, 65, 32, 0)));
        assertTrue(e.getMessage().contains("max_position_embeddings 64"), e.getMessage());
    }
}
