package dev.dynalora.spark;

import dev.dynalora.UserInputException;
import dev.dynalora.data.Example;
import dev.dynalora.data.GlueReader;
import dev.dynalora.data.GlueTask;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.tokenize.TextTokenizer;
import dev.dynalora.training.EncodedExamples;
import dev.dynalora.training.GlueTrainer;
import dev.dynalora.training.Predictor;
import dev.dynalora.training.RunFolder;
import dev.dynalora.training.TrainConfig;
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

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** DynaloraSpark.predict in local[2] against the single-process path of dynalora predict, row by row. */
class DistributedPredictTest {
    static SparkSession spark;
    static Path run;
    static List<Example> examples;

    @BeforeAll
    static void start() throws Exception {
        run = Fixtures.sst2Run();
        Path test = Fixtures.dir().resolve("sst2-test-40.tsv");
        Files.write(test, Fixtures.sst2TestLines(40));
        examples = GlueReader.readFile(test, GlueTask.SST2, "test", 0);
        spark = Fixtures.spark("local[2]");
        DynaloraSpark.clearCache();
        loadsAtStart = LoadedRun.loads(run);
    }

    static int loadsAtStart;

    @AfterAll
    static void stop() {
        spark.stop();
        DynaloraSpark.clearCache();
    }

    static final StructType SCHEMA = new StructType().add("idx", DataTypes.IntegerType).add("sentence", DataTypes.StringType);

    static Dataset<Row> frame(SparkSession spark, List<Example> examples, int partitions) {
        List<Row> rows = new ArrayList<>();
        for (Example e : examples) {
            rows.add(RowFactory.create(e.index(), e.textA()));
        }
        var rdd = JavaSparkContext.fromSparkContext(spark.sparkContext()).parallelize(rows, partitions);
        return spark.createDataFrame(rdd, SCHEMA);
    }

    /** The logits dynalora predict computes for the examples, in one process, as PredictCommand does. */
    static float[] singleProcessLogits(Path run, List<Example> examples) {
        TrainConfig c = RunFolder.open(run).readConfig();
        GlueTrainer.Built built = GlueTrainer.build(c);
        RunFolder.open(run).loadTrainable(built.trainable(), built.model());
        try (TextTokenizer tok = TextTokenizer.load(Path.of(c.model()), c.maxLen()); CpuKernels k = new CpuKernels(2)) {
            return Predictor.logits(k, built.model(), new EncodedExamples(examples, tok), 64, null);
        }
    }

    @Test
    void distributedPredictEqualsSingleProcessRowByRow() {
        float[] expected = singleProcessLogits(run, examples);
        List<String> expectedText = Predictor.predictionTexts(GlueTask.SST2, expected, 2);
        // Three partitions over two task slots; a small batch and chunk so that partitions hold several batches
        // planned differently from the single-process run.
        DynaloraSpark.Options small = new DynaloraSpark.Options(4, 9, 0);
        List<Row> rows = DynaloraSpark.predict(frame(spark, examples, 3), "sentence", null, run, small).collectAsList();
        assertEquals(examples.size(), rows.size());
        for (int i = 0; i < rows.size(); i++) {
            Row r = rows.get(i);
            assertEquals(examples.get(i).index(), r.getInt(0), "row order");
            assertEquals(examples.get(i).textA(), r.getString(1));
            assertEquals(expectedText.get(i), r.getString(2), "prediction of row " + i);
            List<Float> logits = r.getList(3);
            float[] l = {logits.get(0), logits.get(1)};
            // Batches of other sizes and lengths pad differently, which moves a few float roundings in the
            // kernels' reductions: the logits agree to rounding, the predictions exactly.
            assertArrayEquals(new float[] {expected[2 * i], expected[2 * i + 1]}, l, 1e-5f, "logits of row " + i);
            List<Float> p = r.getList(4);
            assertEquals(1.0, p.get(0) + p.get(1), 1e-6);
            assertEquals(l[0] >= l[1] ? "0" : "1", r.getString(2));
        }
        // Another job reuses the executor's model: one load for the run in this JVM (over all of this class's
        // jobs), not one per partition or job.
        assertEquals(examples.size(), DynaloraSpark.predict(frame(spark, examples, 4), "sentence", run).count());
        assertEquals(1, LoadedRun.loads(run) - loadsAtStart);
    }

    @Test
    void onePartitionPlannedLikeTheFileGivesBitIdenticalLogits() {
        float[] expected = singleProcessLogits(run, examples);
        List<Row> rows = DynaloraSpark.predict(frame(spark, examples, 1), "sentence", run).collectAsList();
        for (int i = 0; i < rows.size(); i++) {
            List<Float> logits = rows.get(i).getList(3);
            assertEquals(Float.floatToIntBits(expected[2 * i]), Float.floatToIntBits(logits.get(0)), "row " + i);
            assertEquals(Float.floatToIntBits(expected[2 * i + 1]), Float.floatToIntBits(logits.get(1)), "row " + i);
        }
    }

    @Test
    void sentencePairsAndRegressionAsPredictWritesThem() throws Exception {
        Path stsb = Fixtures.stsbRun();
        List<String> lines = Files.readAllLines(Fixtures.glue().resolve("STS-B/test.tsv")).subList(0, 21);
        Path test = Fixtures.dir().resolve("stsb-test-20.tsv");
        Files.write(test, lines);
        List<Example> pairs = GlueReader.readFile(test, GlueTask.STSB, "test", 0);
        float[] expected = singleProcessLogits(stsb, pairs);
        List<String> expectedText = Predictor.predictionTexts(GlueTask.STSB, expected, 1);
        List<Row> rows = new ArrayList<>();
        for (Example e : pairs) {
            rows.add(RowFactory.create(e.index(), e.textA(), e.textB()));
        }
        StructType schema = new StructType().add("idx", DataTypes.IntegerType).add("s1", DataTypes.StringType)
                .add("s2", DataTypes.StringType);
        Dataset<Row> df = spark.createDataFrame(JavaSparkContext.fromSparkContext(spark.sparkContext()).parallelize(rows, 2), schema);
        List<Row> out = DynaloraSpark.predict(df, "s1", "s2", stsb).collectAsList();
        for (int i = 0; i < out.size(); i++) {
            assertEquals(expectedText.get(i), out.get(i).getString(3), "row " + i);
            assertTrue(out.get(i).getString(3).matches("\\d\\.\\d{3}"), out.get(i).getString(3));
            assertEquals(expected[i], (float) out.get(i).<Float>getList(4).get(0), 1e-5f);
            assertTrue(out.get(i).isNullAt(5), "no probabilities for a regression");
        }
        // A pair task needs its second column.
        UserInputException e = assertThrows(UserInputException.class, () -> DynaloraSpark.predict(df, "s1", stsb));
        assertTrue(e.getMessage().contains("sentence pairs"), e.getMessage());
    }

    @Test
    void wrongColumnsAndRunsAreClearErrorsOnTheDriver() {
        Dataset<Row> df = frame(spark, examples.subList(0, 3), 1);
        UserInputException e = assertThrows(UserInputException.class, () -> DynaloraSpark.predict(df, "text", run));
        assertTrue(e.getMessage().contains("no column text") && e.getMessage().contains("idx, sentence"), e.getMessage());
        e = assertThrows(UserInputException.class, () -> DynaloraSpark.predict(df, "idx", run));
        assertTrue(e.getMessage().contains("not a string"), e.getMessage());
        e = assertThrows(UserInputException.class, () -> DynaloraSpark.predict(df, "sentence", Fixtures.dir()));
        assertTrue(e.getMessage().contains("not a dynalora run folder"), e.getMessage());
        Dataset<Row> scored = DynaloraSpark.predict(df, "sentence", run);
        e = assertThrows(UserInputException.class, () -> DynaloraSpark.predict(scored.drop("logits", "probabilities"), "sentence", run));
        assertTrue(e.getMessage().contains("already has a column prediction"), e.getMessage());
        assertNull(scored.schema().getFieldIndex("nothing").getOrElse(() -> null));
    }
}
