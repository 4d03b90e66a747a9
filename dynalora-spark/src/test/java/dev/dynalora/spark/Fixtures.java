package dev.dynalora.spark;

import dev.dynalora.cli.Main;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.formats.SafetensorsWriter;
import dev.dynalora.models.RandomWeights;
import dev.dynalora.models.bert.BertEncoder;
import dev.dynalora.tensor.Param;
import dev.dynalora.tensor.Tensor;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * What the Spark tests share, made once per test JVM: a random 2-layer BERT (hidden 32, MiniLM's tokenizer) and
 * a LoRA run trained on it for one short epoch of SST-2 by {@code dynalora train}, so that the run folder is
 * exactly what a user has; plus a Spark session on the loopback interface with no UI.
 */
public final class Fixtures {
    private static Path dir;
    private static Path sst2Run;
    private static Path tiny;

    private Fixtures() {
    }

    public static Path shared() {
        String p = System.getProperty("dynalora.shared");
        if (p != null && Files.isDirectory(Path.of(p))) {
            return Path.of(p).toAbsolutePath().normalize();
        }
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            if (Files.isDirectory(d.resolveSibling("shared").resolve("models"))) {
                return d.resolveSibling("shared");
            }
        }
        throw new IllegalStateException("cannot find ../shared");
    }

    public static Path glue() {
        return shared().resolve("glue");
    }

    public static synchronized Path dir() {
        if (dir == null) {
            try {
                dir = Files.createTempDirectory("dynalora-spark-test");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            Path d = dir;
            Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(d)));
        }
        return dir;
    }

    /** A finished SST-2 LoRA run of the tiny model. */
    public static synchronized Path sst2Run() {
        if (sst2Run == null) {
            Path model = tinyModel();
            Path run = dir().resolve("sst2-run");
            String err = cli("train", "--model", model.toString(), "--task", "sst2", "--data", glue().toString(),
                    "--out", run.toString(), "--limit", "48", "--eval-limit", "16", "--epochs", "1", "--batch", "16",
                    "--max-len", "32", "--lr", "1e-2", "--threads", "1", "--seed", "3");
            if (err != null) {
                throw new IllegalStateException("training the fixture run failed: " + err);
            }
            sst2Run = run;
        }
        return sst2Run;
    }

    private static Path stsbRun;

    /** A finished STS-B LoRA run of the tiny model: sentence pairs, a regression head. */
    public static synchronized Path stsbRun() {
        if (stsbRun == null) {
            Path run = dir().resolve("stsb-run");
            String err = cli("train", "--model", tinyModel().toString(), "--task", "stsb", "--data", glue().toString(),
                    "--out", run.toString(), "--limit", "32", "--eval-limit", "16", "--epochs", "1", "--batch", "16",
                    "--max-len", "48", "--lr", "1e-2", "--threads", "1", "--seed", "5");
            if (err != null) {
                throw new IllegalStateException("training the STS-B fixture run failed: " + err);
            }
            stsbRun = run;
        }
        return stsbRun;
    }

    /** Runs the dynalora CLI in-process; null when it exits 0, else its standard error. */
    static String cli(String... args) {
        Result r = run(Main.commandLine(), args);
        return r.exit() == 0 ? null : "exit " + r.exit() + ": " + r.err();
    }

    public record Result(int exit, String err) {
    }

    /** Runs a dynalora command line in-process, capturing its standard error. */
    public static Result run(CommandLine cl, String... args) {
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(new StringWriter()));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Result(code, err.toString());
    }

    /** The random tiny BERT folder the fixture run is trained from. */
    public static synchronized Path tinyModel() {
        if (tiny == null) {
            tiny = tinyModel(dir().resolve("tiny-bert"));
        }
        return tiny;
    }

    static Path tinyModel(Path dir) {
        try {
            Files.createDirectories(dir);
            Path miniLm = shared().resolve("models/all-MiniLM-L6-v2");
            Files.write(dir.resolve("tokenizer.json"), Files.readAllBytes(miniLm.resolve("tokenizer.json")));
            Files.writeString(dir.resolve("config.json"), """
                    {"model_type": "bert", "vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "intermediate_size": 64, "hidden_act": "gelu",
                     "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 64,
                     "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0}
                    """);
            BertEncoder encoder = new BertEncoder(ModelConfig.read(dir), new RandomWeights(7, 0.02));
            Map<String, Tensor> weights = new LinkedHashMap<>();
            for (Param p : encoder.params()) {
                weights.put(p.name(), p.value());
            }
            SafetensorsWriter.write(dir.resolve("model.safetensors"), weights);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A Spark session for tests: the given local master, loopback only, no UI, few shuffle partitions. */
    static SparkSession spark(String master) {
        return SparkSession.builder().master(master).appName("dynalora-spark-test")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.sql.shuffle.partitions", "2")
                .getOrCreate();
    }

    static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            // best effort: a temporary folder
        }
    }

    /** The first {@code n} data lines of SST-2's test file, with its header. */
    public static List<String> sst2TestLines(int n) {
        try {
            return Files.readAllLines(glue().resolve("SST-2/test.tsv")).subList(0, n + 1);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
