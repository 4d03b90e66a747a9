package dev.dynalora.training;

import dev.dynalora.ConfigException;
import dev.dynalora.Setting;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.data.LmDataReader;
import dev.dynalora.data.LmExample;
import dev.dynalora.models.AutoModels;
import dev.dynalora.models.CausalLm;
import dev.dynalora.tensor.Param;
import dev.dynalora.tokenize.TextTokenizer;

import java.nio.file.Path;
import java.util.List;

/**
 * Causal-LM runs (task {@code lm}: plain text, task {@code sft}: prompt/completion pairs) on a decoder of any
 * family: the model with the run's method applied, the data, the memory guard and the trainer's setup. The
 * counterpart of {@link GlueTrainer} for GLUE tasks on encoders.
 */
public final class CausalLmRuns {
    public static final String LM = "lm";
    public static final String SFT = "sft";
    /** The maxLen default for decoders: 256 tokens, or the model's context if shorter. */
    public static final int DEFAULT_BLOCK = 256;

    private CausalLmRuns() {
    }

    /**
     * The learning-rate default for decoders: 1e-3 for the adapter methods (the PyTorch reference's default and a
     * common PEFT recipe for small ranks; at 5e-4, the encoders' default, one epoch of LoRA on tinyshakespeare
     * ends at perplexity 251 instead of 215), the method's own default otherwise (5e-5 for full fine-tuning); and
     * 5e-3 for AdaLoRA, whose update grows from three small factors (see {@link Method#defaultLearningRate()}): one
     * epoch on tinyshakespeare with stories15M ends at perplexity 515 at 1e-3 and 239 at 5e-3 (BENCHMARKS.md).
     */
    public static double defaultLearningRate(Method method) {
        if (method == Method.ADALORA) {
            return 5e-3;
        }
        return method.usesAdapters() ? 1e-3 : method.defaultLearningRate();
    }

    /** Whether a run's task is a causal-LM task (lm or sft). */
    public static boolean isCausalTask(String task) {
        return LM.equals(task) || SFT.equals(task);
    }

    public record Built(Method method, CausalLm model, LoraConfig lora, List<Param> trainable) {
    }

    public record Data(List<LmExample> train, List<LmExample> valid) {
    }

    /** Loads the run's model from its folder and applies the method (see {@link #build(TrainConfig, CausalLm)}). */
    public static Built build(TrainConfig c) {
        return build(c, AutoModels.causalLm(Path.of(c.model())));
    }

    /** Applies the run's method to an already loaded model; checks maxLen against its context. */
    public static Built build(TrainConfig c, CausalLm model) {
        if (!isCausalTask(c.task())) {
            throw new IllegalArgumentException("not a causal-LM task: " + c.task());
        }
        c.requireMaxLenWithin(model.maxPositions());
        Method method = Method.parse(c.method());
        if (method == Method.HEAD) {
            throw new ConfigException(Setting.METHOD, "head trains a classification head, which a causal LM does not"
                    + " have; use lora, adalora, dynamic or full");
        }
        LoraConfig lora = method.usesAdapters()
                ? LoraConfig.of(c.rank(), c.alpha(), resolveTargets(c.targets(), model), c.rsLora(), c.loraDropout(), c.seed())
                : null;
        List<Param> trainable = MethodSetup.apply(model, method, lora, c.adaptive());
        return new Built(method, model, lora, trainable);
    }

    /**
     * PEFT's "all-linear": every projection of the decoder blocks (not the output head), named by their last
     * path component; anything else as given.
     */
    public static String resolveTargets(String targets, CausalLm model) {
        return Targets.resolve(targets, model);
    }

    /** Memory guard: weights, gradients and AdamW moments of what trains, and a full-length batch's activations. */
    public static void checkMemory(Built built, TrainConfig c) {
        long params = MethodSetup.count(built.model().allParams());
        long trainable = MethodSetup.count(built.trainable());
        long estimate = 4 * (params + 3 * trainable) + built.model().trainingActivationBytes(c.batch(), c.maxLen());
        MemoryEstimate.check(estimate, Runtime.getRuntime().maxMemory(), c.batch(), c.maxLen());
    }

    /** Reads and tokenizes the train and validation files (DIR/train.txt and valid.txt, or the .jsonl pair). */
    public static Data loadData(TrainConfig c, CausalLm model) {
        return new Data(load(c, model, true), load(c, model, false));
    }

    /** One split's examples, limited by trainLimit (train) or evalLimit (valid). */
    public static List<LmExample> load(TrainConfig c, CausalLm model, boolean train) {
        boolean sft = SFT.equals(c.task());
        Path file = LmDataReader.splitFile(Path.of(c.data()), sft, train);
        int limit = train ? c.trainLimit() : c.evalLimit();
        // No truncation while tokenizing: documents are longer than a block and are cut into windows afterwards.
        try (TextTokenizer tok = TextTokenizer.load(Path.of(c.model()), 1 << 24)) {
            return sft
                    ? LmDataReader.promptCompletions(file, tok, model.bosTokenId(), model.eosTokenId(), c.maxLen(), limit)
                    : LmDataReader.textBlocks(file, tok, model.bosTokenId(), c.maxLen(), limit);
        }
    }

    /** The trainer's view of the run. */
    public static Trainer.Setup setup(Built built, Data data, TrainConfig c) {
        return new Trainer.Setup(built.method(), built.model(), built.lora(), built.trainable(),
                new CausalLmObjective(built.model(), data.train(), data.valid()));
    }
}
