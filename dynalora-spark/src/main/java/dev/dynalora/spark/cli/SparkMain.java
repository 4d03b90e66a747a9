package dev.dynalora.spark.cli;

import dev.dynalora.cli.Main;
import picocli.CommandLine;


/**
 * The entry point of {@code bin/dynalora spark ...} and of {@code spark-submit}: the dynalora command line with
 * the {@code spark} command added (its exit codes and one-line errors are dynalora's). Without a leading
 * {@code spark} the arguments are a spark command's ({@code spark-submit ... dynalora-spark.jar predict ...}).
 */
public final class SparkMain {
    /** Spark's log4j 2 settings for the command line: its errors only, not its INFO chatter. */
    static final String LOG_CONFIG = "classpath:dev/dynalora/spark/cli/log4j2-cli.properties";

    private SparkMain() {
    }

    public static void main(String[] args) {
        if (System.getProperty("log4j2.configurationFile") == null && System.getenv("SPARK_CONF_DIR") == null) {
            System.setProperty("log4j2.configurationFile", LOG_CONFIG);
        }
        Main.main(SparkMain::commandLine, withSpark(args));
    }

    static String[] withSpark(String[] args) {
        if (args.length > 0 && args[0].equals("spark")) {
            return args;
        }
        String[] out = new String[args.length + 1];
        out[0] = "spark";
        System.arraycopy(args, 0, out, 1, args.length);
        return out;
    }

    /** dynalora's command line plus {@code spark}. */
    public static CommandLine commandLine() {
        CommandLine cl = Main.commandLine();
        cl.addSubcommand(new CommandLine(new SparkCommand()));
        return cl;
    }
}
