package dev.dynalora.spark.cli;

import dev.dynalora.cli.BenchGlueCommand;
import dev.dynalora.cli.Main;
import dev.dynalora.cli.bench.GridRun;
import dev.dynalora.cli.bench.GridRunner;
import dev.dynalora.cli.bench.GridSettings;
import dev.dynalora.cli.bench.RunState;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.Function;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * dynalora spark glue: {@code dynalora bench glue} with each incomplete run (task x method x seed) as one Spark
 * task. Everything else is bench glue's: the flags, the grid folder and its resume rules (complete runs are
 * skipped, an interrupted one resumes from its checkpoint), each run's train in a child JVM with its log in
 * OUT/logs, and results.md / results.json. OUT must be a folder that the driver and every executor see at the
 * same path.
 */
@Command(name = "glue", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Run bench glue's grid with each run as a Spark task (resumable); the same folder and tables.")
final class SparkGlueCommand extends BenchGlueCommand {
    @Option(names = "--master", paramLabel = "URL", description = "Spark master: local[N], spark://HOST:PORT, yarn, k8s://..."
            + " Default: spark-submit's --master, else local[*]. Each run takes --threads cores: set spark.task.cpus to it.")
    String master;

    @Option(names = "--conf", paramLabel = "KEY=VALUE", description = "A Spark setting (repeatable).")
    Map<String, String> conf = new LinkedHashMap<>();

    @Override
    protected List<GridRunner.Failure> runPending(GridRunner runner, GridSettings s, Path out) {
        List<GridRun> pending = s.runs().stream().filter(r -> !RunState.read(runner.runDir(r)).complete()).toList();
        if (pending.isEmpty()) {
            return List.of();
        }
        SparkSession spark = Sessions.start(master, conf, "dynalora spark glue");
        List<String> outcomes;
        try {
            JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
            outcomes = jsc.parallelize(pending, pending.size())
                    .map(new RunTask(s, out.toAbsolutePath().normalize().toString(), Main.class.getName()))
                    .collect();
        } finally {
            spark.stop();
        }
        List<GridRunner.Failure> failures = new ArrayList<>();
        for (int i = 0; i < pending.size(); i++) {
            if (outcomes.get(i) != null) {
                failures.add(new GridRunner.Failure(pending.get(i), outcomes.get(i)));
            }
        }
        return failures;
    }

    /** One run of the grid in an executor: bench glue's own step ({@link GridRunner#runOne}); null when it completed. */
    record RunTask(GridSettings settings, String out, String mainClass) implements Function<GridRun, String> {
        @Override
        public String call(GridRun r) {
            GridRunner runner = new GridRunner(settings, Path.of(out), mainClass, Map.of(), 2000);
            GridRunner.Failure f = runner.runOne(r, () -> { });
            return f == null ? null : f.message();
        }
    }
}
