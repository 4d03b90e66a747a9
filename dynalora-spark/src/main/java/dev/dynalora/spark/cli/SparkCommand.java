package dev.dynalora.spark.cli;

import dev.dynalora.UserInputException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** dynalora spark: dynalora's jobs on Apache Spark. */
@Command(name = "spark", mixinStandardHelpOptions = true,
        description = "Run dynalora jobs on Apache Spark (local mode, or a cluster through spark-submit).",
        subcommands = {SparkPredictCommand.class, SparkGenerateCommand.class, SparkGlueCommand.class, SparkTrainCommand.class})
final class SparkCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getErr());
        throw new UserInputException("no spark command given; run one of the commands above (e.g. dynalora spark predict --help)");
    }
}
