package dev.dynalora.data;

import dev.dynalora.UserInputException;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * The GLUE tasks, with everything needed to read their original TSV files (the layout of the official GLUE
 * download, {@code <Folder>/<split>.tsv}) and to score them.
 *
 * <p>Layouts are per split because the original files differ between splits: test files carry an index column
 * and no label, CoLA's train/dev files have no header, and MNLI's train and dev files have different numbers
 * of annotator-label columns (the gold label is the last column in both). Column counts are exact so that a
 * row with a stray or missing tab is reported instead of being read with shifted columns.
 */
public enum GlueTask {
    // CoLA train/dev: source, label, original author mark ("*" or empty), sentence; no header.
    COLA("cola", "CoLA", List.of("0", "1"), List.of("mcc"),
            Map.of("train", new Layout(false, 4, 3, -1, 1), "dev", new Layout(false, 4, 3, -1, 1),
                    "test", new Layout(true, 2, 1, -1, -1))),
    // SST-2 train/dev: sentence, label; test: index, sentence.
    SST2("sst2", "SST-2", List.of("0", "1"), List.of("accuracy"),
            Map.of("train", new Layout(true, 2, 0, -1, 1), "dev", new Layout(true, 2, 0, -1, 1),
                    "test", new Layout(true, 2, 1, -1, -1))),
    // MRPC: Quality, #1 ID, #2 ID, #1 String, #2 String; test has "index" in place of Quality.
    MRPC("mrpc", "MRPC", List.of("0", "1"), List.of("accuracy", "f1"),
            Map.of("train", new Layout(true, 5, 3, 4, 0), "dev", new Layout(true, 5, 3, 4, 0),
                    "test", new Layout(true, 5, 3, 4, -1))),
    // STS-B: index, genre, filename, year, old_index, source1, source2, sentence1, sentence2, score (not in test).
    STSB("stsb", "STS-B", List.of(), List.of("pearson", "spearman"),
            Map.of("train", new Layout(true, 10, 7, 8, 9), "dev", new Layout(true, 10, 7, 8, 9),
                    "test", new Layout(true, 9, 7, 8, -1))),
    // QNLI: index, question, sentence, label (not in test).
    QNLI("qnli", "QNLI", List.of("entailment", "not_entailment"), List.of("accuracy"),
            Map.of("train", new Layout(true, 4, 1, 2, 3), "dev", new Layout(true, 4, 1, 2, 3),
                    "test", new Layout(true, 3, 1, 2, -1))),
    // QQP: id, qid1, qid2, question1, question2, is_duplicate; test: id, question1, question2.
    QQP("qqp", "QQP", List.of("0", "1"), List.of("accuracy", "f1"),
            Map.of("train", new Layout(true, 6, 3, 4, 5), "dev", new Layout(true, 6, 3, 4, 5),
                    "test", new Layout(true, 3, 1, 2, -1))),
    // MNLI: index, promptID, pairID, genre, sentence1/2_binary_parse, sentence1/2_parse, sentence1, sentence2,
    // then label1 + gold_label (train, 12 columns) or label1..label5 + gold_label (dev, 16 columns); test stops
    // at sentence2 (10 columns). Matched and mismatched are separate files and separate evaluations.
    MNLI("mnli", "MNLI", List.of("contradiction", "entailment", "neutral"), List.of("accuracy"),
            Map.of("train", new Layout(true, 12, 8, 9, 11),
                    "dev_matched", new Layout(true, 16, 8, 9, 15),
                    "dev_mismatched", new Layout(true, 16, 8, 9, 15),
                    "test_matched", new Layout(true, 10, 8, 9, -1),
                    "test_mismatched", new Layout(true, 10, 8, 9, -1))),
    // RTE: index, sentence1, sentence2, label (not in test).
    RTE("rte", "RTE", List.of("entailment", "not_entailment"), List.of("accuracy"),
            Map.of("train", new Layout(true, 4, 1, 2, 3), "dev", new Layout(true, 4, 1, 2, 3),
                    "test", new Layout(true, 3, 1, 2, -1))),
    // WNLI: same layout as RTE, with 0/1 labels.
    WNLI("wnli", "WNLI", List.of("0", "1"), List.of("accuracy"),
            Map.of("train", new Layout(true, 4, 1, 2, 3), "dev", new Layout(true, 4, 1, 2, 3),
                    "test", new Layout(true, 3, 1, 2, -1)));

    /** Name of the mean of a task's metrics (GLUE's per-task headline number); always in TaskMetrics' map. */
    public static final String SCORE = "score";

    /**
     * Where the fields of one split's rows are. Indices are 0-based columns; {@code -1} means absent (no second
     * sentence, or no label as in test files).
     *
     * @param header      whether the first line is a header (skipped, but its column count is checked)
     * @param columns     exact number of tab-separated columns in every row
     * @param textA       column of the first sentence
     * @param textB       column of the second sentence, or -1 for single-sentence tasks
     * @param label       column of the label (class name or STS-B score), or -1 when the split is unlabelled
     */
    public record Layout(boolean header, int columns, int textA, int textB, int label) {
        public boolean labelled() {
            return label >= 0;
        }

        /** Unlabelled (test) splits start with an index/id column, used as the example index for submissions. */
        public boolean hasIndexColumn() {
            return !labelled();
        }
    }

    private final String id;
    private final String folder;
    private final List<String> labelNames;
    private final List<String> metricNames;
    private final Map<String, Layout> layouts;
    private final List<String> splits;

    GlueTask(String id, String folder, List<String> labelNames, List<String> metricNames,
             Map<String, Layout> layouts) {
        this.id = id;
        this.folder = folder;
        this.labelNames = labelNames;
        this.metricNames = metricNames;
        this.layouts = layouts;
        // Map.of has no order; list splits in the natural train, dev*, test* order for messages and loops.
        List<String> s = new ArrayList<>();
        for (String name : List.of("train", "dev", "dev_matched", "dev_mismatched", "test", "test_matched",
                "test_mismatched")) {
            if (layouts.containsKey(name)) {
                s.add(name);
            }
        }
        this.splits = List.copyOf(s);
    }

    /** The task's id, as a run configuration names it and in file names of results: cola, sst2, ... */
    public String id() {
        return id;
    }

    /** Folder name in the original GLUE download: CoLA, SST-2, STS-B, ... */
    public String folder() {
        return folder;
    }

    /** Class names in GLUE's label order (index = class id); empty for the regression task STS-B. */
    public List<String> labelNames() {
        return labelNames;
    }

    public boolean isRegression() {
        return labelNames.isEmpty();
    }

    /** Size of the classifier head: the number of classes, or 1 for regression. */
    public int numLabels() {
        return isRegression() ? 1 : labelNames.size();
    }

    /** Class id of a label as written in the files, or -1 if it is not one of this task's labels. */
    public int labelIndex(String label) {
        return labelNames.indexOf(label);
    }

    /** GLUE's metric names for this task, in GLUE's order (e.g. accuracy then f1 for MRPC). */
    public List<String> metricNames() {
        return metricNames;
    }

    /**
     * The key of {@link dev.dynalora.evaluation.TaskMetrics#compute} to select checkpoints by: the task's own
     * metric where it has one, otherwise {@link #SCORE}, the mean GLUE uses as the task's leaderboard number.
     */
    public String primaryMetric() {
        return metricNames.size() == 1 ? metricNames.get(0) : SCORE;
    }

    /** All split names this task has files for, train first. */
    public List<String> splits() {
        return splits;
    }

    /** The labelled evaluation splits: ["dev"], or for MNLI ["dev_matched", "dev_mismatched"]. */
    public List<String> devSplits() {
        return splits.stream().filter(s -> s.startsWith("dev")).collect(Collectors.toUnmodifiableList());
    }

    /** The unlabelled leaderboard splits: ["test"], or for MNLI ["test_matched", "test_mismatched"]. */
    public List<String> testSplits() {
        return splits.stream().filter(s -> s.startsWith("test")).collect(Collectors.toUnmodifiableList());
    }

    public boolean hasSplit(String split) {
        return layouts.containsKey(split);
    }

    /** File name of a split inside the task folder, e.g. dev_matched.tsv. */
    public String fileName(String split) {
        layout(split); // validates the split name
        return split + ".tsv";
    }

    /** Column layout of a split; an unknown split is a user mistake (typically "dev" for MNLI). */
    public Layout layout(String split) {
        Layout layout = split == null ? null : layouts.get(split);
        if (layout == null) {
            throw new UserInputException("unknown split '" + split + "' for task " + id + "; valid splits: "
                    + String.join(", ", splits));
        }
        return layout;
    }

    /**
     * Task from a user-supplied name: the id or the GLUE folder name, ignoring case, '-' and '_' (so
     * "SST-2", "sst_2", "STS-B" and "CoLA" all work).
     */
    public static GlueTask parse(String name) {
        GlueTask task = name == null ? null : lookup(name);
        if (task == null) {
            throw new UserInputException("unknown GLUE task '" + name + "'; valid tasks: " + validNames());
        }
        return task;
    }

    /** Like {@link #parse} but returns null instead of throwing; used to recognise task folders by name. */
    static GlueTask lookup(String name) {
        String key = normalize(name);
        for (GlueTask t : values()) {
            if (t.id.equals(key) || normalize(t.folder).equals(key)) {
                return t;
            }
        }
        return null;
    }

    public static String validNames() {
        return Stream.of(values()).map(GlueTask::id).collect(Collectors.joining(", "));
    }

    private static String normalize(String name) {
        return name.trim().toLowerCase(Locale.ROOT).replace("-", "").replace("_", "");
    }
}
