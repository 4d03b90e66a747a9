package dev.dynalora.spark.cli;

import dev.dynalora.UserInputException;
import dev.dynalora.cli.OutputFile;
import dev.dynalora.data.Example;
import dev.dynalora.data.GlueReader;
import dev.dynalora.data.GlueTask;
import dev.dynalora.formats.AtomicFiles;
import dev.dynalora.spark.DynaloraSpark;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * dynalora spark predict: {@code dynalora predict} on Spark. The driver reads the GLUE test file (with predict's
 * checks), Spark predicts its rows in parallel ({@link DynaloraSpark#predict}), and the driver writes the same
 * file as predict: index TAB prediction, whole or not at all, never over a file that is not a predictions file.
 */
@Command(name = "predict", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Predict labels for a GLUE test file on Spark; writes what dynalora predict writes.")
final class SparkPredictCommand implements Callable<Integer> {
    @Mixin
    SparkJobOptions job = new SparkJobOptions();

    @Option(names = "--run", required = true, paramLabel = "RUN_DIR",
            description = "Run folder (on a cluster: at the same path on every executor).")
    Path runDir;

    @Option(names = "--input", required = true, paramLabel = "TEST.tsv", description = "GLUE test file, read on the driver.")
    Path input;

    @Option(names = "--output", required = true, paramLabel = "PRED.tsv", description = "Predictions file, written on the driver.")
    Path output;

    @Option(names = "--overwrite", description = "Replace an existing predictions file.")
    boolean overwrite;

    @Option(names = "--batch", defaultValue = "64", description = "Examples per forward pass. Default: ${DEFAULT-VALUE}.")
    int batch;

    static final StructType SCHEMA = new StructType()
            .add("position", DataTypes.IntegerType, false)
            .add("index", DataTypes.IntegerType, false)
            .add("text_a", DataTypes.StringType, false)
            .add("text_b", DataTypes.StringType, true);

    @Override
    public Integer call() {
        if (batch < 1) {
            throw new UserInputException("--batch must be at least 1, got " + batch);
        }
        job.validate();
        OutputFile.check("--output", output, overwrite, "index\tprediction", "a predictions file", input);
        GlueTask task = DynaloraSpark.task(runDir);
        String split = task.testSplits().get(0);
        boolean pairs = task.layout(split).textB() >= 0;
        List<Example> examples = GlueReader.readFile(input, task, split, 0);
        if (examples.isEmpty()) {
            throw new UserInputException(input + " has no examples");
        }
        List<Row> rows = new ArrayList<>(examples.size());
        for (int i = 0; i < examples.size(); i++) {
            Example e = examples.get(i);
            rows.add(RowFactory.create(i, e.index(), e.textA(), e.textB()));
        }
        SparkSession spark = job.start("dynalora spark predict");
        List<Row> predicted;
        try {
            JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
            int slices = job.slices(rows.size(), jsc);
            var df = spark.createDataFrame(jsc.parallelize(rows, slices), SCHEMA);
            DynaloraSpark.Options options = DynaloraSpark.Options.DEFAULT.withBatch(batch).withThreads(job.threadsOrAuto());
            predicted = DynaloraSpark.predict(df, "text_a", pairs ? "text_b" : null, runDir, options)
                    .select("position", "index", DynaloraSpark.PREDICTION).collectAsList();
        } catch (UserInputException e) {
            throw e;
        } catch (Exception e) { // a failed job: a SparkException, which Scala code throws undeclared
            throw userErrorOrRethrow(e);
        } finally {
            spark.stop();
        }
        String[] byPosition = new String[examples.size()];
        for (Row r : predicted) {
            int p = r.getInt(0);
            if (byPosition[p] != null) {
                throw new IllegalStateException("row " + p + " came back twice");
            }
            byPosition[p] = r.getString(2);
        }
        StringBuilder sb = new StringBuilder("index\tprediction\n");
        for (int i = 0; i < examples.size(); i++) {
            if (byPosition[i] == null) {
                throw new IllegalStateException("row " + i + " is missing from Spark's result");
            }
            sb.append(examples.get(i).index()).append('\t').append(byPosition[i]).append('\n');
        }
        AtomicFiles.writeString(output, sb.toString());
        return 0;
    }

    /**
     * A job that failed on a user's mistake (a task threw dynalora's UserInputException, which reaches the driver
     * as text) is that one-line error; anything else is an internal failure and keeps its stack trace.
     */
    static RuntimeException userErrorOrRethrow(Exception e) {
        String marker = UserInputException.class.getName() + ": ";
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof UserInputException u) {
                return u;
            }
            String msg = t.getMessage();
            int at = msg == null ? -1 : msg.indexOf(marker);
            if (at >= 0) {
                return new UserInputException(msg.substring(at + marker.length()).split("\n", 2)[0].strip());
            }
        }
        return new IllegalStateException("the Spark job failed", e);
    }
}
