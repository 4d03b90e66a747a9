package dev.dynalora.spark.cli;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import dev.dynalora.UserInputException;
import dev.dynalora.cli.GenerateCommand;
import dev.dynalora.cli.OutputFile;
import dev.dynalora.cli.PromptsFile;
import dev.dynalora.formats.AtomicFiles;
import dev.dynalora.generation.GenerationConfig;
import dev.dynalora.generation.Generator;
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
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * dynalora spark generate: {@code dynalora generate --input --output} on Spark. The driver reads the prompts file
 * (with generate's checks), Spark generates its prompts in parallel ({@link DynaloraSpark#generate}), and the
 * driver writes generate's file, line for line the same, whole or not at all.
 */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Generate completions for a JSONL file of prompts on Spark; writes what dynalora generate writes.")
final class SparkGenerateCommand implements Callable<Integer> {
    @Mixin
    SparkJobOptions job = new SparkJobOptions();

    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "Hugging Face causal-LM folder (model_type llama; on a cluster: at the same path on every executor).")
    Path model;

    @Option(names = "--adapter", paramLabel = "DIR", description = "A PEFT adapter folder or a dynalora lm/sft run folder"
            + " trained on --model, as generate --adapter (on a cluster: at the same path on every executor).")
    Path adapter;

    @Option(names = "--input", required = true, paramLabel = "PROMPTS.jsonl",
            description = "One JSON object per line with a \"prompt\" string, read on the driver.")
    Path input;

    @Option(names = "--output", required = true, paramLabel = "OUT.jsonl", description = "Completions, written on the driver.")
    Path output;

    @Option(names = "--overwrite", description = "Replace an existing --output written by generate.")
    boolean overwrite;

    @Option(names = "--max-new-tokens", defaultValue = "" + GenerationConfig.DEFAULT_MAX_NEW_TOKENS, paramLabel = "N",
            description = "Default: ${DEFAULT-VALUE}.")
    int maxNewTokens;

    @Option(names = "--temperature", defaultValue = "0", description = "0 is greedy (the default); above 0 samples.")
    float temperature;

    @Option(names = "--top-k", paramLabel = "K", description = "Sample from the K most likely tokens only (with --temperature > 0).")
    Integer topK;

    @Option(names = "--top-p", paramLabel = "P", description = "Sample from the smallest set of most likely tokens holding"
            + " probability P (with --temperature > 0).")
    Float topP;

    @Option(names = "--seed", description = "Seed for sampling (default: a random one, printed on standard error).")
    Long seed;

    @Option(names = "--stop", paramLabel = "TEXT", description = "End a completion before this text (repeatable).")
    List<String> stop = new ArrayList<>();

    @Option(names = "--batch", defaultValue = "" + Generator.DEFAULT_BATCH, paramLabel = "N",
            description = "Sequences in flight at once on an executor (results do not depend on it). Default: ${DEFAULT-VALUE}.")
    int batch;

    static final StructType SCHEMA = new StructType()
            .add("position", DataTypes.IntegerType, false)
            .add("prompt", DataTypes.StringType, false);

    @Override
    public Integer call() throws Exception {
        if (batch < 1) {
            throw new UserInputException("--batch must be at least 1, got " + batch);
        }
        job.validate();
        if (temperature == 0 && (topK != null || topP != null)) {
            throw new UserInputException("--top-k and --top-p apply to sampling; add --temperature above 0 (0 is greedy)");
        }
        long s = seed != null ? seed : new SplittableRandom().nextLong();
        GenerationConfig config = new GenerationConfig(maxNewTokens, temperature,
                topK == null ? GenerationConfig.NO_TOP_K : topK, topP == null ? GenerationConfig.NO_TOP_P : topP, s, stop,
                0, false);
        if (config.sampling() && seed == null) {
            System.err.println("dynalora: sampling with --seed " + s + " (give it to repeat this run)");
        }
        OutputFile.check("--output", output, overwrite, GenerateCommand.SIGNATURE, "a generations file", input, model);
        List<PromptsFile.Prompt> prompts = PromptsFile.read(input);
        List<Row> rows = new ArrayList<>(prompts.size());
        for (int i = 0; i < prompts.size(); i++) {
            rows.add(RowFactory.create(i, prompts.get(i).text()));
        }
        SparkSession spark = job.start("dynalora spark generate");
        List<Row> generated;
        try {
            JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
            int slices = job.slices(rows.size(), jsc);
            var df = spark.createDataFrame(jsc.parallelize(rows, slices), SCHEMA);
            DynaloraSpark.GenerateOptions options = new DynaloraSpark.GenerateOptions(config, batch,
                    job.threadsOrAuto());
            generated = DynaloraSpark.generate(df, "prompt", model, adapter, options).collectAsList();
        } catch (UserInputException e) {
            throw e;
        } catch (Exception e) { // a failed job: a SparkException, which Scala code throws undeclared
            throw SparkPredictCommand.userErrorOrRethrow(e);
        } finally {
            spark.stop();
        }
        Row[] byPosition = new Row[prompts.size()];
        for (Row r : generated) {
            int p = r.getInt(0);
            if (byPosition[p] != null) {
                throw new IllegalStateException("prompt " + p + " came back twice");
            }
            byPosition[p] = r;
        }
        AtomicFiles.writeAtomically(output, os -> {
            JsonGenerator json = new JsonFactory().createGenerator(os);
            json.setRootValueSeparator(null);
            for (int i = 0; i < byPosition.length; i++) {
                Row r = byPosition[i];
                if (r == null) {
                    throw new IllegalStateException("prompt " + i + " is missing from Spark's result");
                }
                GenerateCommand.writeFields(json, r.getString(3), r.getString(1), r.getString(2), ints(r.getList(4)),
                        ints(r.getList(5)));
                json.writeEndObject();
                json.writeRaw('\n');
            }
            json.flush();
        });
        return 0;
    }

    private static int[] ints(List<Integer> list) {
        int[] a = new int[list.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = list.get(i);
        }
        return a;
    }
}
