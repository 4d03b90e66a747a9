package dev.dynalora.spark;

import dev.dynalora.data.Example;
import dev.dynalora.data.GlueReader;
import dev.dynalora.data.GlueTask;
import dev.dynalora.training.Predictor;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A task that fails once is retried by Spark (local[2,2]: two task slots, a task may fail twice) and the job's
 * output has every row exactly once, with the predictions of a run without failures.
 */
class TaskRetryTest {
    static SparkSession spark;
    static Path run;
    static List<Example> examples;

    @BeforeAll
    static void start() throws Exception {
        run = Fixtures.sst2Run();
        Path test = Fixtures.dir().resolve("sst2-test-30.tsv");
        Files.write(test, Fixtures.sst2TestLines(30));
        examples = GlueReader.readFile(test, GlueTask.SST2, "test", 0);
        spark = Fixtures.spark("local[2,2]");
    }

    @AfterEach
    void removeHook() {
        PredictPartitions.beforeChunk = null;
    }

    @AfterAll
    static void stop() {
        spark.stop();
        DynaloraSpark.clearCache();
    }

    @Test
    void aTaskThatFailsOnceIsRetriedWithNoDuplicateOrMissingRows() {
        AtomicInteger injected = new AtomicInteger();
        AtomicInteger partition0Attempts = new AtomicInteger();
        // Partition 0 (10 rows, chunks of 5) dies in its first attempt after its first chunk has been predicted
        // and handed on: that partial output must not survive.
        PredictPartitions.beforeChunk = (ctx, chunk) -> {
            if (ctx.partitionId() == 0 && chunk == 1) {
                partition0Attempts.incrementAndGet();
                if (ctx.attemptNumber() == 0) {
                    injected.incrementAndGet();
                    throw new IllegalStateException("injected failure in the first attempt of partition 0");
                }
            }
        };
        DynaloraSpark.Options small = new DynaloraSpark.Options(4, 5, 0);
        List<Row> rows = DynaloraSpark.predict(DistributedPredictTest.frame(spark, examples, 3), "sentence", null, run, small)
                .collectAsList();
        assertEquals(1, injected.get(), "the failure was injected once");
        assertEquals(2, partition0Attempts.get(), "Spark retried partition 0 once");

        float[] expected = DistributedPredictTest.singleProcessLogits(run, examples);
        List<String> expectedText = Predictor.predictionTexts(GlueTask.SST2, expected, 2);
        assertEquals(examples.size(), rows.size());
        Set<Integer> seen = new HashSet<>();
        List<Integer> order = new ArrayList<>();
        for (Row r : rows) {
            assertTrue(seen.add(r.getInt(0)), "duplicate row " + r.getInt(0));
            order.add(r.getInt(0));
        }
        for (int i = 0; i < examples.size(); i++) {
            assertEquals(examples.get(i).index(), order.get(i), "rows in input order");
            assertEquals(expectedText.get(i), rows.get(i).getString(2), "prediction of row " + i);
        }
    }
}
