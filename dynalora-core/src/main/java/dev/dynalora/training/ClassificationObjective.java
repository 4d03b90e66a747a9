package dev.dynalora.training;

import dev.dynalora.data.GlueTask;
import dev.dynalora.data.PaddedBatch;
import dev.dynalora.evaluation.TaskMetrics;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.models.bert.SequenceClassifier;

import java.util.Map;
import java.util.function.LongConsumer;

/**
 * A GLUE task on a sequence classifier: cross-entropy over the labels (mean squared error for a regression
 * task such as STS-B), scored on the dev split by the task's metrics.
 */
public final class ClassificationObjective implements Objective {
    private final SequenceClassifier model;
    private final GlueTask task;
    private final GlueTrainer.Data data;
    private final ClassifierLoss loss;

    public ClassificationObjective(SequenceClassifier model, GlueTask task, GlueTrainer.Data data) {
        this.model = model;
        this.task = task;
        this.data = data;
        this.loss = new ClassifierLoss(model);
    }

    @Override
    public int trainExamples() {
        return data.train().size();
    }

    @Override
    public int[] trainLengths() {
        return data.trainSet().lengths();
    }

    @Override
    public int evalExamples() {
        return data.dev().size();
    }

    @Override
    public String evalSplit() {
        return data.devSplit();
    }

    @Override
    public Loss lossAndGradients(Kernels k, int[] idx, long seed, long step) {
        EncodedExamples set = data.trainSet();
        PaddedBatch b = set.batch(idx);
        float value = loss.lossAndGradients(k, b, set.labels(idx), set.targets(idx), true, seed, step);
        return new Loss(value, (long) b.batch() * b.seqLen());
    }

    @Override
    public Loss lossAndGradients(Kernels k, int[] batch, int from, int to, long seed, long step) {
        if (from == 0 && to == batch.length) {
            return lossAndGradients(k, batch, seed, step);
        }
        EncodedExamples set = data.trainSet();
        PaddedBatch b = set.batch(batch).rows(from, to);
        int[] shard = java.util.Arrays.copyOfRange(batch, from, to);
        int[] labels = set.labels(shard);
        long denominator = model.numLabels() == 1 ? batch.length
                : dev.dynalora.layers.CrossEntropy.scored(set.labels(batch), batch.length);
        float value = loss.lossAndGradients(k, b, labels, set.targets(shard), true, seed, step, from, denominator);
        return new Loss(value, (long) b.batch() * b.seqLen());
    }

    @Override
    public Map<String, Double> evaluate(Kernels k, int batch, LongConsumer progress) {
        return GlueTrainer.evaluate(k, model, task, data.devSet(), batch, progress);
    }

    @Override
    public String primaryMetric() {
        return TaskMetrics.primary(task);
    }

    @Override
    public boolean higherIsBetter() {
        return true;
    }
}
