package dev.dynalora.training;

import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.data.BatchPlanner;
import dev.dynalora.data.Example;
import dev.dynalora.data.GlueReader;
import dev.dynalora.data.GlueTask;
import dev.dynalora.data.PaddedBatch;
import dev.dynalora.evaluation.TaskMetrics;
import dev.dynalora.kernels.Kernels;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.ConfigException;
import dev.dynalora.Setting;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.models.AutoModels;
import dev.dynalora.models.LinearModule;
import dev.dynalora.formats.peft.PeftAdapters;
import dev.dynalora.models.bert.PretrainedBert;
import dev.dynalora.models.bert.SequenceClassifier;
import dev.dynalora.tensor.Param;
import dev.dynalora.tokenize.TextTokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongConsumer;

/**
 * Fine-tunes a pretrained encoder on a GLUE task: tokenizes once, trains with length-bucketed batches,
 * AdamW and a linear warm-up/decay schedule, evaluates on dev after each epoch and records everything in
 * the run folder.
 */
public final class GlueTrainer {
    private final TrainConfig config;
    private final Kernels kernels;
    private final TrainingListener listener;

    public GlueTrainer(TrainConfig config, Kernels kernels, TrainingListener listener) {
        config.validate();
        this.config = config;
        this.kernels = kernels;
        this.listener = listener == null ? TrainingListener.NONE : listener;
    }

    /** The modules a GLUE run adapts unless told otherwise: the BERT encoder's query and value projections. */
    public static final String DEFAULT_TARGETS = SequenceClassifier.DEFAULT_TARGETS;

    /** The model a run trains, with the run's method applied; also used by eval and predict. */
    public static Built build(TrainConfig c) {
        GlueTask task = GlueTask.parse(c.task());
        Method method = Method.parse(c.method());
        if (AutoModels.isCausalLm(Path.of(c.model()))) {
            throw new ConfigException(Setting.TASK, c.task() + " trains a sequence classifier, which dynalora builds on"
                    + " BERT encoders; " + c.model() + " holds a causal language model: use ", Setting.TASK.is("lm"),
                    " or ", Setting.TASK.is("sft"));
        }
        SequenceClassifier model = PretrainedBert.loadClassifier(Path.of(c.model()), task.numLabels(), c.seed());
        // Refused here, before the memory estimate and before any data is read: a longer example would
        // otherwise fail mid-run, and the estimate for an impossible length is a meaningless heap size.
        c.requireMaxLenWithin(model.encoder().config().maxPositionEmbeddings());
        LoraConfig lora = method.usesAdapters()
                ? LoraConfig.of(c.rank(), c.alpha(), Targets.resolve(c.targets(), model), c.rsLora(), c.loraDropout(), c.seed())
                : null;
        List<Param> trainable = MethodSetup.apply(model, method, lora, c.adaptive());
        return new Built(task, method, model, lora, trainable);
    }

    public record Built(GlueTask task, Method method, SequenceClassifier model, LoraConfig lora, List<Param> trainable) {
    }

    /** A run's data, read and tokenized: the train split and the first dev split. */
    public record Data(List<Example> train, List<Example> dev, String devSplit, EncodedExamples trainSet,
                       EncodedExamples devSet) {
    }

    /**
     * Reads and tokenizes the run's data. A front end calls this before it creates the run folder, so that a
     * missing or malformed data file, tokenizer or task folder fails without leaving anything behind.
     */
    public static Data loadData(TrainConfig c, GlueTask task) {
        Path data = Path.of(c.data());
        List<Example> train = GlueReader.read(data, task, "train", c.trainLimit());
        String devSplit = task.devSplits().get(0);
        List<Example> dev = GlueReader.read(data, task, devSplit, c.evalLimit());
        try (TextTokenizer tok = TextTokenizer.load(Path.of(c.model()), c.maxLen())) {
            return new Data(train, dev, devSplit, new EncodedExamples(train, tok), new EncodedExamples(dev, tok));
        }
    }

    /**
     * Memory guard: the worst case (every batch padded to maxLen) must fit the heap; otherwise stop before
     * anything is written, with the estimate and a remedy, instead of an OutOfMemoryError mid-run.
     */
    public static void checkMemory(Built built, TrainConfig c) {
        MemoryEstimate.check(MemoryEstimate.bytes(built.model().encoder().config(), c.batch(), c.maxLen(),
                MethodSetup.count(built.trainable()), true), Runtime.getRuntime().maxMemory(), c.batch(), c.maxLen());
    }

    /** Dev-set metrics of a model. */
    public static Map<String, Double> evaluate(Kernels k, SequenceClassifier model, GlueTask task, EncodedExamples dev, int batch) {
        return evaluate(k, model, task, dev, batch, null);
    }

    /** As {@link #evaluate(Kernels, SequenceClassifier, GlueTask, EncodedExamples, int)}, reporting examples done to {@code progress} (may be null). */
    public static Map<String, Double> evaluate(Kernels k, SequenceClassifier model, GlueTask task, EncodedExamples dev, int batch,
                                               LongConsumer progress) {
        float[] logits = Predictor.logits(k, model, dev, batch, progress);
        if (task.isRegression()) {
            return TaskMetrics.compute(task, logits, dev.examples());
        }
        return TaskMetrics.compute(task, TaskMetrics.argmax(logits, model.numLabels()), dev.examples());
    }

    /** The trainer's view of a GLUE run: the objective on the data, and BERT's PEFT files. */
    public static Trainer.Setup setup(Built built, Data data, TrainConfig c) {
        return new Trainer.Setup(built.method(), built.model(), built.lora(), built.trainable(),
                new ClassificationObjective(built.model(), built.task(), data));
    }

    public Map<String, Object> run(RunFolder run) {
        Built built = build(config);
        return run(run, built, loadData(config, built.task()));
    }

    /** Trains the model built from this trainer's configuration (see {@link #build}) on its data ({@link #loadData}). */
    public Map<String, Object> run(RunFolder run, Built built, Data data) {
        return new Trainer(config, kernels, listener).run(run, setup(built, data, config));
    }

    /** Continues the run in {@code run} from its checkpoint (see {@link Trainer#resume}). */
    public Map<String, Object> resume(RunFolder run, Built built, Data data) {
        return new Trainer(config, kernels, listener).resume(run, setup(built, data, config));
    }
}
