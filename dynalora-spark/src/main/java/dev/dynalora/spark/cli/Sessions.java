package dev.dynalora.spark.cli;

import dev.dynalora.UserInputException;
import org.apache.spark.sql.SparkSession;

import java.util.Map;

/** The Spark session of a dynalora spark command. */
final class Sessions {
    private Sessions() {
    }

    /**
     * A session on {@code master} (null: spark-submit's --master, else local[*]) with the given settings on top.
     * In local mode: no web UI, the driver on the loopback interface only. A Spark that cannot start (a bad
     * master URL) is a one-line error.
     */
    static SparkSession start(String master, Map<String, String> conf, String appName) {
        String m = master != null ? master : System.getProperty("spark.master", "local[*]");
        SparkSession.Builder b = SparkSession.builder().appName(appName).master(m)
                .config("spark.ui.showConsoleProgress", "false");
        if (m.startsWith("local")) {
            b.config("spark.ui.enabled", "false")
                    .config("spark.driver.host", "127.0.0.1")
                    .config("spark.driver.bindAddress", "127.0.0.1");
        }
        conf.forEach(b::config);
        try {
            return b.getOrCreate();
        } catch (Exception | ExceptionInInitializerError e) { // Scala code throws SparkException undeclared
            String msg = e.getMessage() != null ? e.getMessage() : e.toString();
            throw new UserInputException("cannot start Spark with --master " + m + ": " + msg.split("\n", 2)[0]);
        }
    }
}
