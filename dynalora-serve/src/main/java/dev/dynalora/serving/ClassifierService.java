package dev.dynalora.serving;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dynalora.UserInputException;
import dev.dynalora.data.Example;
import dev.dynalora.data.GlueTask;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.models.bert.SequenceClassifier;
import dev.dynalora.tokenize.TextTokenizer;
import dev.dynalora.training.CausalLmRuns;
import dev.dynalora.training.EncodedExamples;
import dev.dynalora.training.GlueTrainer;
import dev.dynalora.training.Predictor;
import dev.dynalora.training.RunFolder;
import dev.dynalora.training.TrainConfig;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * POST /v1/classify: GLUE run folders written by {@code dynalora train} (--classifier NAME=RUN_DIR), each loaded as
 * {@code dynalora predict --run RUN_DIR} loads it (the run's model, its trained tensors, its tokenizer cut at the
 * run's max length, longest first, as predict cuts) and run through {@link Predictor} on one input at a time, so a
 * result never depends on the rest of the request and its label is what predict writes for the same row.
 */
final class ClassifierService implements AutoCloseable {
    static final int MAX_INPUTS = 2048;

    /** One served run. Its model and tokenizer are used by one request at a time. */
    static final class Classifier {
        final String name;
        final Path runDir;
        final GlueTask task;
        final SequenceClassifier model;
        final TextTokenizer tokenizer;
        final int maxLen;
        final String baseModel;

        private Classifier(String name, Path runDir) {
            this.name = name;
            this.runDir = runDir;
            if (!Files.isDirectory(runDir)) {
                throw new UserInputException("--classifier " + name + ": " + runDir + " is not a folder");
            }
            RunFolder run = RunFolder.open(runDir);
            TrainConfig c = run.readConfig();
            if (CausalLmRuns.isCausalTask(c.task())) {
                throw new UserInputException("--classifier " + name + ": " + runDir + " is a " + c.task() + " run of a causal LM;"
                        + " serve it as an adapter: --model " + c.model() + " --adapter " + name + "=" + runDir);
            }
            GlueTrainer.Built built = GlueTrainer.build(c);
            run.loadTrainable(built.trainable(), built.model());
            this.task = built.task();
            this.model = built.model();
            this.maxLen = c.maxLen();
            this.tokenizer = TextTokenizer.load(Path.of(c.model()), c.maxLen());
            Path base = Path.of(c.model()).toAbsolutePath().normalize().getFileName();
            this.baseModel = base != null ? base.toString() : c.model();
        }

        boolean isPair() {
            return task.layout(task.testSplits().get(0)).textB() >= 0;
        }
    }

    /** One answer: predict's text for the row, the probabilities (classification) or the score (regression), tokens. */
    record Result(String label, float[] probabilities, Float score, int tokens) {
    }

    private final Map<String, Classifier> classifiers = new LinkedHashMap<>();
    private final Kernels kernels;

    ClassifierService(Map<String, Path> runs, Kernels kernels) {
        this.kernels = kernels;
        try {
            for (Map.Entry<String, Path> e : runs.entrySet()) {
                classifiers.put(e.getKey(), new Classifier(e.getKey(), e.getValue()));
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    boolean has(String name) {
        return classifiers.containsKey(name);
    }

    List<Classifier> all() {
        return List.copyOf(classifiers.values());
    }

    Classifier get(String name) {
        return classifiers.get(name);
    }

    /** The request's inputs as unlabelled examples (400 for a malformed one, naming it). */
    static List<Example> inputs(Classifier c, JsonNode body) {
        JsonNode in = body.get("input");
        if (in == null || in.isNull()) {
            throw ApiException.badRequest("you must provide an input", "input");
        }
        boolean pair = c.isPair();
        String shape = pair
                ? c.name + " is a " + c.task.id() + " classifier of sentence pairs: input must be a pair [\"a\", \"b\"] or a"
                + " non-empty list of pairs"
                : c.name + " is a " + c.task.id() + " classifier of single sentences: input must be a string or a non-empty"
                + " list of strings";
        List<Example> out = new ArrayList<>();
        if (in.isTextual()) {
            if (pair) {
                throw ApiException.badRequest(shape, "input");
            }
            out.add(example(c, in, null, 0));
        } else if (in.isArray() && !in.isEmpty()) {
            if (pair && in.size() == 2 && in.get(0).isTextual() && in.get(1).isTextual()) {
                out.add(example(c, in.get(0), in.get(1), 0)); // one pair
            } else {
                for (JsonNode e : in) {
                    int i = out.size();
                    if (pair && e.isArray() && e.size() == 2 && e.get(0).isTextual() && e.get(1).isTextual()) {
                        out.add(example(c, e.get(0), e.get(1), i));
                    } else if (!pair && e.isTextual()) {
                        out.add(example(c, e, null, i));
                    } else {
                        throw ApiException.badRequest(shape + " (input " + i + " is not " + (pair ? "a pair of strings)" : "a string)"), "input");
                    }
                    if (out.size() > MAX_INPUTS) {
                        throw ApiException.badRequest("at most " + MAX_INPUTS + " inputs per request", "input");
                    }
                }
            }
        } else {
            throw ApiException.badRequest(shape, "input");
        }
        return out;
    }

    private static Example example(Classifier c, JsonNode a, JsonNode b, int i) {
        if (a.asText().isBlank() || (b != null && b.asText().isBlank())) {
            // predict refuses an empty sentence in a test file the same way
            throw ApiException.badRequest("input " + i + " has an empty sentence", "input");
        }
        return new Example(a.asText(), b == null ? null : b.asText(), Example.NO_LABEL, Float.NaN, i, 0);
    }

    /** Each input alone (a batch of one), through predict's code path. */
    List<Result> classify(Classifier c, List<Example> inputs) {
        List<Result> out = new ArrayList<>(inputs.size());
        int n = c.model.numLabels();
        synchronized (c) {
            for (Example e : inputs) {
                EncodedExamples data = new EncodedExamples(List.of(e), c.tokenizer);
                float[] logits = Predictor.logits(kernels, c.model, data, 1, null);
                String label = Predictor.predictionTexts(c.task, logits, n).get(0);
                int tokens = data.lengths()[0];
                if (c.task.isRegression()) {
                    out.add(new Result(label, null, Math.max(0f, Math.min(5f, logits[0])), tokens));
                } else {
                    out.add(new Result(label, Predictor.probabilities(logits), null, tokens));
                }
            }
        }
        return out;
    }

    @Override
    public void close() {
        for (Classifier c : classifiers.values()) {
            synchronized (c) {
                c.tokenizer.close();
            }
        }
    }
}
