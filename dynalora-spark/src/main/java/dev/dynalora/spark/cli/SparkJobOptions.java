package dev.dynalora.spark.cli;

import dev.dynalora.UserInputException;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Option;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The options of a Spark job that reads an input file on the driver and spreads its rows over partitions
 * ({@code spark predict}, {@code spark generate}): where it runs, the Spark settings, the partitions and each
 * executor's compute threads.
 */
final class SparkJobOptions {
    @Option(names = "--master", paramLabel = "URL", description = "Spark master: local[N], local[*], spark://HOST:PORT,"
            + " yarn, k8s://... Default: spark-submit's --master, else local[*].")
    String master;

    @Option(names = "--threads", paramLabel = "N",
            description = "Compute threads of each executor's model (default: spark.executor.cores, else all cores).")
    Integer threads;

    @Option(names = "--partitions", paramLabel = "N", description = "Partitions of the input (default: Spark's default parallelism).")
    Integer partitions;

    @Option(names = "--conf", paramLabel = "KEY=VALUE", description = "A Spark setting (repeatable), e.g. --conf spark.executor.memory=4g.")
    Map<String, String> conf = new LinkedHashMap<>();

    /** Refuses out-of-range values with one-line errors, before Spark starts. */
    void validate() {
        if (threads != null && (threads < 1 || threads > 1024)) {
            throw new UserInputException("--threads must be between 1 and 1024, got " + threads);
        }
        if (partitions != null && partitions < 1) {
            throw new UserInputException("--partitions must be at least 1, got " + partitions);
        }
    }

    SparkSession start(String appName) {
        return Sessions.start(master, conf, appName);
    }

    /** Partitions for {@code rows} rows: --partitions or Spark's default parallelism, never more than the rows. */
    int slices(int rows, JavaSparkContext jsc) {
        return Math.min(rows, partitions != null ? partitions : jsc.defaultParallelism());
    }

    /** Executor compute threads, 0 for the executor's cores (DynaloraSpark's "auto"). */
    int threadsOrAuto() {
        return threads == null ? 0 : threads;
    }
}
