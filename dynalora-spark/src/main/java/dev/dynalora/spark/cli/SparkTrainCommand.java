package dev.dynalora.spark.cli;

import dev.dynalora.UserInputException;
import dev.dynalora.cli.TrainCommand;
import dev.dynalora.spark.DynaloraSpark;
import dev.dynalora.training.RunFolder;
import dev.dynalora.training.TrainConfig;
import dev.dynalora.training.Trainer;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * dynalora spark train: {@code dynalora train} with one adapter trained by {@code --workers} data-parallel workers
 * in a Spark barrier stage ({@link DynaloraSpark#train}). Every flag is train's and the run folder is train's:
 * the run records shards = workers, and its adapter is bit-identical to {@code train --shards N} with the same
 * flags. --resume continues a run (with the same number of workers); a barrier stage that Spark retries resumes
 * from the last checkpoint on its own. The run folder, model and data must be at the same paths on the driver
 * and every executor.
 */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Train one adapter with N data-parallel workers on Spark (train's flags and run folder).")
final class SparkTrainCommand extends TrainCommand {
    @Option(names = "--master", paramLabel = "URL", description = "Spark master: local[N], spark://HOST:PORT, yarn, k8s://..."
            + " Default: spark-submit's --master, else local[*]. The workers run at once: it needs N task slots.")
    String master;

    @Option(names = "--workers", required = true, paramLabel = "N", description = "Data-parallel workers (tasks of one"
            + " barrier stage); each computes 1/N of every batch and all take the same step.")
    int workers;

    @Option(names = "--conf", paramLabel = "KEY=VALUE", description = "A Spark setting (repeatable).")
    Map<String, String> conf = new LinkedHashMap<>();

    @Override
    protected Set<String> resumeFlags() {
        Set<String> s = new HashSet<>(super.resumeFlags());
        s.addAll(Set.of("--master", "--workers", "--conf"));
        return s;
    }

    /**
     * Each worker's kernel threads when --threads is not given: spark.task.cpus when set with --conf, else 1
     * (local[N] runs N workers on N cores, one thread each).
     */
    @Override
    protected int defaultThreads() {
        return Integer.parseInt(conf.getOrDefault("spark.task.cpus", "1"));
    }

    @Override
    protected TrainConfig adjust(TrainConfig c, boolean resuming) {
        if (workers < 1) {
            throw new UserInputException("--workers must be at least 1, got " + workers);
        }
        if (resuming) {
            if (c.shards() != workers) {
                throw new UserInputException("the run was trained with " + c.shards() + " shard(s) per batch; resume it"
                        + " with --workers " + c.shards() + " (or with dynalora train --resume, which computes them in turn)");
            }
            return c;
        }
        if (c.shards() != 1 && c.shards() != workers) {
            throw new UserInputException("--shards " + c.shards() + " differs from --workers " + workers
                    + ": each worker computes one shard of every batch (leave --shards out)");
        }
        return c.toBuilder().shards(workers).build();
    }

    @Override
    protected Map<String, Object> runTraining(TrainConfig c, RunFolder run, Supplier<Trainer.Setup> setup,
                                              boolean resuming) {
        SparkSession spark = Sessions.start(master, conf, "dynalora spark train");
        try {
            return DynaloraSpark.train(spark, c, run.dir(), workers);
        } finally {
            spark.stop();
        }
    }
}
