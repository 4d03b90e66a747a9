package dev.dynalora.data;

import java.util.List;

/**
 * One GLUE example as read from a TSV row.
 *
 * <p>Classification rows have {@code label} = class id and {@code target} = the same id as a float; the STS-B
 * regression rows have {@code label} = {@link #NO_LABEL} and {@code target} = the similarity score; unlabelled
 * (test) rows have {@code label} = {@link #NO_LABEL} and {@code target} = NaN. Keeping both fields lets a
 * training loop use {@code label} for cross-entropy and {@code target} for MSE without knowing the file layout.
 *
 * @param textA  first sentence (never blank)
 * @param textB  second sentence, or null for single-sentence tasks (CoLA, SST-2)
 * @param label  class id in {@link GlueTask#labelNames()} order, or {@link #NO_LABEL}
 * @param target regression target (STS-B score), the class id as a float, or NaN when unlabelled
 * @param index  0-based example number: the file's index/id column for test files (what GLUE submissions are
 *               keyed by), otherwise the row's position among the file's examples
 * @param line   1-based line number in the source file, for diagnostics
 */
public record Example(String textA, String textB, int label, float target, int index, int line) {
    public static final int NO_LABEL = -1;

    public boolean isPair() {
        return textB != null;
    }

    /** Whether this example has a gold answer (a class or a regression score), i.e. it is not from a test file. */
    public boolean hasGold() {
        return !Float.isNaN(target);
    }

    /** Gold class ids of a list of examples, for {@link dev.dynalora.evaluation.TaskMetrics}. */
    public static int[] labels(List<Example> examples) {
        int[] out = new int[examples.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = examples.get(i).label();
        }
        return out;
    }

    /** Gold regression targets of a list of examples, for {@link dev.dynalora.evaluation.TaskMetrics}. */
    public static float[] targets(List<Example> examples) {
        float[] out = new float[examples.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = examples.get(i).target();
        }
        return out;
    }
}
