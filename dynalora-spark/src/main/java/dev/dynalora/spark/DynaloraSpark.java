package dev.dynalora.spark;

import dev.dynalora.UserInputException;
import dev.dynalora.data.GlueTask;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.generation.GenerationConfig;
import dev.dynalora.generation.Generator;
import dev.dynalora.training.RunFolder;
import dev.dynalora.training.TrainConfig;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.Metadata;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

import com.fasterxml.jackson.core.type.TypeReference;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import scala.reflect.ClassTag$;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * dynalora on Apache Spark: a fine-tuned classifier (a run folder written by {@code dynalora train}), an encoder's
 * embeddings or a decoder's completions applied to a column of a DataFrame, in parallel over its partitions; and
 * data-parallel training of one adapter by several workers ({@link #train}).
 *
 * <pre>{@code
 * Dataset<Row> scored = DynaloraSpark.predict(df, "sentence", Path.of("/shared/runs/sst2-lora"));
 * Dataset<Row> pairs  = DynaloraSpark.predict(df, "question", "sentence", Path.of("/shared/runs/qnli-lora"));
 * }</pre>
 *
 * <p>The result is the input with three columns appended: {@value #PREDICTION} (string: the label exactly as
 * {@code dynalora predict} writes it, a GLUE label name or for STS-B the score clipped to [0, 5] with three
 * decimals), {@value #LOGITS} (array of float, one per label) and {@value #PROBABILITIES} (the softmax of the
 * logits; null for STS-B). Rows keep their order within each partition; nothing is shuffled.
 *
 * <p>The run folder and the model folder its {@code run_config.json} names must be readable at the same paths
 * on every executor (a shared file system, or the same copy on each machine). Each executor JVM loads the model
 * once and keeps it for later tasks and jobs ({@link LoadedRun}); inside a partition rows are predicted in
 * batches. A failed task is retried by Spark like any other; the model is deterministic, so a retry gives the
 * same rows.
 */
public final class DynaloraSpark {
    public static final String PREDICTION = "prediction";
    public static final String LOGITS = "logits";
    public static final String PROBABILITIES = "probabilities";
    public static final String EMBEDDING = "embedding";
    public static final String COMPLETION = "completion";
    public static final String FINISH_REASON = "finish_reason";
    public static final String PROMPT_IDS = "prompt_ids";
    public static final String COMPLETION_IDS = "completion_ids";

    private DynaloraSpark() {
    }

    /**
     * How partitions are processed.
     *
     * @param batch   examples per forward pass (as {@code dynalora predict --batch}; default 64)
     * @param chunk   rows read from a partition at a time and planned into length-sorted batches (default 4096:
     *                a wider window pads less; it holds a few MB of text and token ids)
     * @param threads compute threads for each executor's model; 0 (default) uses spark.executor.cores, or all of
     *                the machine's cores when that is not set (local mode)
     */
    public record Options(int batch, int chunk, int threads) {
        public static final Options DEFAULT = new Options(64, 4096, 0);

        public Options {
            if (batch < 1) {
                throw new UserInputException("batch must be at least 1, got " + batch);
            }
            if (chunk < 1) {
                throw new UserInputException("chunk must be at least 1, got " + chunk);
            }
            if (threads < 0 || threads > 1024) {
                throw new UserInputException("threads must be between 0 (auto) and 1024, got " + threads);
            }
        }

        public Options withBatch(int b) {
            return new Options(b, chunk, threads);
        }

        public Options withThreads(int t) {
            return new Options(batch, chunk, t);
        }
    }

    /** Predicts a single-sentence task (SST-2, CoLA) from {@code textColumn}; see the class comment. */
    public static Dataset<Row> predict(Dataset<Row> df, String textColumn, Path runDir) {
        return predict(df, textColumn, null, runDir, Options.DEFAULT);
    }

    /** Predicts a sentence-pair task (MRPC, QNLI, ...) from two columns; {@code pairColumn} null for one sentence. */
    public static Dataset<Row> predict(Dataset<Row> df, String textColumn, String pairColumn, Path runDir) {
        return predict(df, textColumn, pairColumn, runDir, Options.DEFAULT);
    }

    public static Dataset<Row> predict(Dataset<Row> df, String textColumn, String pairColumn, Path runDir, Options options) {
        // Checked on the driver, before any task starts, so that a wrong path or column is one clear error.
        Path dir = runDir.toAbsolutePath().normalize();
        GlueTask task = task(dir);
        boolean pairs = task.layout(task.testSplits().get(0)).textB() >= 0;
        if (pairs != (pairColumn != null)) {
            throw new UserInputException(pairs
                    ? dir + " is a " + task.id() + " run, which classifies sentence pairs: name the second sentence's column too"
                    : dir + " is a " + task.id() + " run, which classifies single sentences: give no second column");
        }
        StructType schema = df.schema();
        int text = stringColumn(schema, textColumn);
        int pair = pairColumn == null ? -1 : stringColumn(schema, pairColumn);
        for (String added : new String[] {PREDICTION, LOGITS, PROBABILITIES}) {
            if (Arrays.asList(schema.fieldNames()).contains(added)) {
                throw new UserInputException("the input already has a column " + added + "; rename or drop it first");
            }
        }
        StructType out = schema
                .add(new StructField(PREDICTION, DataTypes.StringType, false, Metadata.empty()))
                .add(new StructField(LOGITS, DataTypes.createArrayType(DataTypes.FloatType, false), false,
                        Metadata.empty()))
                .add(new StructField(PROBABILITIES, DataTypes.createArrayType(DataTypes.FloatType, false), true,
                        Metadata.empty()));
        PredictPartitions f = new PredictPartitions(dir.toString(), text, textColumn, pair, pairColumn, options.batch(),
                options.chunk(), options.threads());
        return df.mapPartitions(f, Encoders.row(out));
    }

    /**
     * The GLUE task of a classifier run folder, after the checks a job makes on the driver: a run folder of a
     * classifier (not a causal LM), with its trained weights, whose model folder exists.
     */
    public static GlueTask task(Path runDir) {
        Path dir = runDir.toAbsolutePath().normalize();
        RunFolder run = RunFolder.open(dir);
        TrainConfig c = LoadedRun.checkClassifierRun(dir, run);
        if (!Files.isRegularFile(dir.resolve(RunFolder.TRAINABLE))) {
            throw new UserInputException(dir + " has no " + RunFolder.TRAINABLE + " (the run has not finished an epoch)");
        }
        if (!Files.isDirectory(Path.of(c.model()))) {
            throw new UserInputException("the model folder " + c.model() + " named by " + dir.resolve(RunFolder.CONFIG)
                    + " does not exist (on a cluster it must be readable at that path on the driver and every executor)");
        }
        return GlueTask.parse(c.task());
    }

    private static int stringColumn(StructType schema, String name) {
        if (!Arrays.asList(schema.fieldNames()).contains(name)) {
            throw new UserInputException("no column " + name + " in the input (columns: "
                    + String.join(", ", schema.fieldNames()) + ")");
        }
        int i = schema.fieldIndex(name);
        if (!schema.fields()[i].dataType().equals(DataTypes.StringType)) {
            throw new UserInputException("column " + name + " is " + schema.fields()[i].dataType().simpleString()
                    + ", not a string");
        }
        return i;
    }

    /**
     * How an embed job embeds, as {@code dynalora embed}'s flags.
     *
     * @param cls       first-token pooling ({@code --pooling cls}); false: the mean over non-padding tokens
     * @param normalize L2-normalise each embedding ({@code --normalize})
     * @param maxLen    truncate to this many tokens ({@code --max-len}, default 512)
     * @param batch     examples per forward pass, consecutive rows of a partition ({@code --batch}, default 32)
     * @param threads   compute threads of each executor's model; 0 as in {@link Options}
     */
    public record EmbedOptions(boolean cls, boolean normalize, int maxLen, int batch, int threads) implements java.io.Serializable {
        public static final EmbedOptions DEFAULT = new EmbedOptions(false, false, 512, 32, 0);

        public EmbedOptions {
            if (maxLen < 2) {
                throw new UserInputException("maxLen must be at least 2, got " + maxLen);
            }
            if (batch < 1) {
                throw new UserInputException("batch must be at least 1, got " + batch);
            }
            if (threads < 0 || threads > 1024) {
                throw new UserInputException("threads must be between 0 (auto) and 1024, got " + threads);
            }
        }
    }

    /** Mean-pooled embeddings of {@code textColumn} by the encoder in {@code modelDir}; see {@link #embed(Dataset, String, String, Path, EmbedOptions)}. */
    public static Dataset<Row> embed(Dataset<Row> df, String textColumn, Path modelDir) {
        return embed(df, textColumn, null, modelDir, EmbedOptions.DEFAULT);
    }

    /**
     * The input with an {@value #EMBEDDING} column (array of float) appended: what {@code dynalora embed} writes
     * as "embedding" for the same text (a pair when {@code pairColumn} is given, as a TAB in embed's input line).
     * The model folder must be readable at the same path on every executor.
     */
    public static Dataset<Row> embed(Dataset<Row> df, String textColumn, String pairColumn, Path modelDir, EmbedOptions options) {
        Path dir = modelDir.toAbsolutePath().normalize();
        if (!Files.isDirectory(dir)) {
            throw new UserInputException("model folder " + dir + " does not exist");
        }
        int maxPositions = ModelConfig.read(dir).maxPositionEmbeddings();
        if (options.maxLen() > maxPositions) {
            throw new UserInputException("maxLen " + options.maxLen() + " exceeds the model's max_position_embeddings " + maxPositions);
        }
        StructType schema = df.schema();
        int text = stringColumn(schema, textColumn);
        int pair = pairColumn == null ? -1 : stringColumn(schema, pairColumn);
        if (Arrays.asList(schema.fieldNames()).contains(EMBEDDING)) {
            throw new UserInputException("the input already has a column " + EMBEDDING + "; rename or drop it first");
        }
        StructType out = schema.add(new StructField(EMBEDDING, DataTypes.createArrayType(DataTypes.FloatType, false), false,
                Metadata.empty()));
        return df.mapPartitions(new EmbedPartitions(dir.toString(), text, textColumn, pair, pairColumn, options),
                Encoders.row(out));
    }

    /**
     * Trains one adapter with {@code workers} data-parallel workers: a barrier stage of that many tasks, each
     * building the run's model, method and data from {@code config} (exactly as {@code dynalora train} does) and
     * computing its shard of every batch (rank r: shard r of {@code workers} contiguous shards); the shards'
     * gradients are all-gathered through BarrierTaskContext and summed in rank order on every worker, so all take
     * the same AdamW step ({@link AllGatherGradients}). The result is bit-identical to {@code dynalora train
     * --shards workers} with the same configuration, thread counts aside (the kernels give the same bits for any
     * thread count).
     *
     * <p>{@code runDir} is a run folder as {@code train} prepares it ({@link RunFolder#create}), or one holding a
     * checkpoint of this run: the workers then continue from the checkpoint, as {@code train --resume} does (give
     * the run's own configuration, with at most the settings a resume may change). A barrier stage that Spark
     * retries resumes from the last checkpoint in the same way. Rank 0 writes the folder (the same files as
     * {@code train}); the folder and the model and data folders the configuration names must be at the same
     * paths on the driver and every executor (a shared file system on a cluster). All {@code workers} tasks run
     * at once, each with {@code config.threads()} kernel threads.
     *
     * @param config the run's configuration; its shards must be 1 or {@code workers}, and is recorded as
     *               {@code workers}
     * @return the run's summary (the last record of metrics.jsonl)
     * @throws UserInputException for a configuration, folder or data the run cannot use, or a divergence
     */
    public static Map<String, Object> train(SparkSession spark, TrainConfig config, Path runDir, int workers) {
        if (workers < 1) {
            throw new UserInputException("workers must be at least 1, got " + workers);
        }
        if (config.shards() != 1 && config.shards() != workers) {
            throw new UserInputException("the configuration has shards " + config.shards() + " but the run has "
                    + workers + " workers: each worker computes one shard of every batch (shards = workers)");
        }
        TrainConfig c = config.toBuilder().shards(workers).build();
        c.validate();
        Path dir = runDir.toAbsolutePath().normalize();
        if (!Files.isDirectory(dir)) {
            throw new UserInputException("the run folder " + dir + " does not exist (create it with RunFolder.create)");
        }
        RunFolder run = new RunFolder(dir);
        if (run.hasCheckpoint() && run.finished()) {
            throw new UserInputException("the run in " + dir + " has already finished; nothing to resume");
        }
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        int slots = jsc.defaultParallelism() / Math.max(1, spark.sparkContext().getConf().getInt("spark.task.cpus", 1));
        if (workers > slots) {
            throw new UserInputException(workers + " workers need " + workers + " task slots at once (a barrier stage"
                    + " starts all its tasks together), but Spark has " + slots + " (local[N]: N slots)");
        }
        List<Integer> ranks = new ArrayList<>();
        for (int r = 0; r < workers; r++) {
            ranks.add(r);
        }
        List<String> answers = jsc.parallelize(ranks, workers).rdd().barrier()
                .mapPartitions(new TrainWorker(c, dir, workers), false, ClassTag$.MODULE$.apply(String.class))
                // Through a shuffle, so that the barrier stage is a shuffle map stage: Spark retries a failed one
                // (up to spark.stage.maxConsecutiveAttempts, 4 by default), never a failed barrier result stage.
                .toJavaRDD().repartition(1).collect();
        if (answers.size() != 1) {
            throw new IllegalStateException("the training stage answered " + answers.size() + " results, expected 1");
        }
        String a = answers.get(0);
        if (a.startsWith(TrainWorker.ERROR)) {
            throw new UserInputException(a.substring(TrainWorker.ERROR.length()));
        }
        try {
            return TrainWorker.JSON.readValue(a.substring(TrainWorker.SUMMARY.length()),
                    new TypeReference<LinkedHashMap<String, Object>>() { });
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Frees the models this JVM has cached (tests; a long-lived driver in local mode that is done with them). */
    public static void clearCache() {
        LoadedRun.clear();
        LoadedEncoder.clear();
        LoadedDecoder.clear();
    }

    /**
     * How a generate job generates, as {@code dynalora generate}'s flags.
     *
     * @param config  max_new_tokens, temperature, top_k, top_p, seed and stop strings ({@code --max-new-tokens},
     *                ...); logprobs are not part of the output columns and must be 0
     * @param batch   sequences in flight at once on an executor ({@code --batch}, default 8); results do not
     *                depend on it
     * @param threads compute threads of each executor's model; 0 as in {@link Options}
     */
    public record GenerateOptions(GenerationConfig config, int batch, int threads) implements java.io.Serializable {
        public GenerateOptions {
            if (config == null) {
                throw new UserInputException("a generation configuration is required");
            }
            if (config.logprobs() != 0) {
                throw new UserInputException("logprobs are not written by a Spark generate job; use 0");
            }
            if (batch < 1) {
                throw new UserInputException("batch must be at least 1, got " + batch);
            }
            if (threads < 0 || threads > 1024) {
                throw new UserInputException("threads must be between 0 (auto) and 1024, got " + threads);
            }
        }

        /** Greedy, {@code maxNewTokens} at most, generate's default batch, threads by the executor. */
        public static GenerateOptions greedy(int maxNewTokens) {
            return new GenerateOptions(new GenerationConfig(maxNewTokens, 0f, GenerationConfig.NO_TOP_K,
                    GenerationConfig.NO_TOP_P, 0L, List.of(), 0, false), Generator.DEFAULT_BATCH, 0);
        }
    }

    /**
     * Completions of the prompts in {@code promptColumn} by the decoder in {@code modelDir} (Llama family), with
     * the adapter in {@code adapterDir} (a PEFT adapter folder or a dynalora lm/sft run folder, as
     * {@code generate --adapter}; null for the base model). The result is the input with {@value #COMPLETION}
     * (string), {@value #FINISH_REASON} ({@code stop} or {@code length}), {@value #PROMPT_IDS} and
     * {@value #COMPLETION_IDS} (arrays of int) appended: for every row what
     * {@code dynalora generate} writes for the same prompt on the same line of its input, sampled completions
     * included (each prompt's random generator comes from the seed and the row's index in the input, Spark's
     * zipWithIndex, which costs one extra job to count the rows of each partition). The folders must be readable
     * at the same paths on every executor; each executor JVM loads the model once. A prompt longer than the
     * context fails its task with the row's number (and, after Spark's retries, the job).
     */
    public static Dataset<Row> generate(Dataset<Row> df, String promptColumn, Path modelDir, Path adapterDir,
                                        GenerateOptions options) {
        Path model = modelDir.toAbsolutePath().normalize();
        if (!Files.isRegularFile(model.resolve("config.json"))) {
            throw new UserInputException("model folder " + model + " has no config.json");
        }
        Path adapter = adapterDir == null ? null : adapterDir.toAbsolutePath().normalize();
        if (adapter != null && !Files.isDirectory(adapter)) {
            throw new UserInputException("adapter folder " + adapter + " does not exist");
        }
        StructType schema = df.schema();
        int prompt = stringColumn(schema, promptColumn);
        for (String added : new String[] {COMPLETION, FINISH_REASON, PROMPT_IDS, COMPLETION_IDS}) {
            if (Arrays.asList(schema.fieldNames()).contains(added)) {
                throw new UserInputException("the input already has a column " + added + "; rename or drop it first");
            }
        }
        StructType out = schema
                .add(new StructField(COMPLETION, DataTypes.StringType, false, Metadata.empty()))
                .add(new StructField(FINISH_REASON, DataTypes.StringType, false, Metadata.empty()))
                .add(new StructField(PROMPT_IDS, DataTypes.createArrayType(DataTypes.IntegerType, false), false,
                        Metadata.empty()))
                .add(new StructField(COMPLETION_IDS, DataTypes.createArrayType(DataTypes.IntegerType, false), false,
                        Metadata.empty()));
        GeneratePartitions f = new GeneratePartitions(model.toString(), adapter == null ? null : adapter.toString(),
                prompt, promptColumn, options);
        JavaRDD<Row> rows = df.javaRDD().zipWithIndex().mapPartitions(f);
        return df.sparkSession().createDataFrame(rows, out);
    }
}
