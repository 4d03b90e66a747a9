package dev.dynalora.evaluation;

import dev.dynalora.data.Example;
import dev.dynalora.data.GlueTask;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GLUE task's metrics under GLUE's names, in GLUE's order, followed by {@link GlueTask#SCORE}: the mean of the
 * task's metrics, which is how GLUE turns MRPC's accuracy/F1 or STS-B's Pearson/Spearman into the single per-task
 * number of the leaderboard (for one-metric tasks it equals that metric).
 *
 * <pre>
 * cola                -> mcc, score
 * sst2, qnli, rte, wnli, mnli -> accuracy, score   (MNLI matched and mismatched are two separate calls)
 * mrpc, qqp           -> accuracy, f1, score
 * stsb                -> pearson, spearman, score
 * </pre>
 *
 * Classification tasks take class ids ({@code int[]}), STS-B takes scores ({@code float[]}); passing the other
 * kind is a programming error ({@link IllegalArgumentException}).
 */
public final class TaskMetrics {
    private TaskMetrics() {
    }

    /** Metrics of class-id predictions for a classification task. */
    public static Map<String, Double> compute(GlueTask task, int[] predicted, int[] gold) {
        if (task.isRegression()) {
            throw new IllegalArgumentException(task.id() + " is a regression task: pass float predictions");
        }
        Map<String, Double> m = new LinkedHashMap<>();
        for (String name : task.metricNames()) {
            switch (name) {
                case "mcc" -> m.put(name, Metrics.matthews(predicted, gold));
                case "accuracy" -> m.put(name, Metrics.accuracy(predicted, gold));
                case "f1" -> m.put(name, Metrics.f1(predicted, gold));
                default -> throw new IllegalStateException("no classification metric " + name);
            }
        }
        return withScore(m);
    }

    /** Metrics of score predictions for the regression task (STS-B). */
    public static Map<String, Double> compute(GlueTask task, float[] predicted, float[] gold) {
        if (!task.isRegression()) {
            throw new IllegalArgumentException(task.id() + " is a classification task: pass class ids");
        }
        Map<String, Double> m = new LinkedHashMap<>();
        for (String name : task.metricNames()) {
            switch (name) {
                case "pearson" -> m.put(name, Metrics.pearson(predicted, gold));
                case "spearman" -> m.put(name, Metrics.spearman(predicted, gold));
                default -> throw new IllegalStateException("no regression metric " + name);
            }
        }
        return withScore(m);
    }

    /** Classification metrics against the gold labels of the examples read by GlueReader. */
    public static Map<String, Double> compute(GlueTask task, int[] predicted, List<Example> gold) {
        requireGold(gold);
        return compute(task, predicted, Example.labels(gold));
    }

    /** Regression metrics against the gold scores of the examples read by GlueReader. */
    public static Map<String, Double> compute(GlueTask task, float[] predicted, List<Example> gold) {
        requireGold(gold);
        return compute(task, predicted, Example.targets(gold));
    }

    /** The key to select checkpoints by; same as {@link GlueTask#primaryMetric()}. */
    public static String primary(GlueTask task) {
        return task.primaryMetric();
    }

    /**
     * Predicted class per example from row-major logits {@code [n, numLabels]} (ties go to the lower class id,
     * like numpy's argmax).
     */
    public static int[] argmax(float[] logits, int numLabels) {
        if (numLabels < 1 || logits.length % numLabels != 0) {
            throw new IllegalArgumentException(logits.length + " logits is not a multiple of " + numLabels + " labels");
        }
        int n = logits.length / numLabels;
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            int best = 0;
            for (int c = 1; c < numLabels; c++) {
                if (logits[i * numLabels + c] > logits[i * numLabels + best]) {
                    best = c;
                }
            }
            out[i] = best;
        }
        return out;
    }

    private static Map<String, Double> withScore(Map<String, Double> m) {
        double sum = 0;
        for (double v : m.values()) {
            sum += v;
        }
        m.put(GlueTask.SCORE, sum / m.size());
        return Collections.unmodifiableMap(m);
    }

    private static void requireGold(List<Example> gold) {
        for (Example e : gold) {
            if (!e.hasGold()) {
                throw new IllegalArgumentException("example on line " + e.line() + " has no gold label (test split?)");
            }
        }
    }
}
