package dev.dynalora.spark;

import dev.dynalora.UserInputException;
import dev.dynalora.data.Example;
import dev.dynalora.training.Predictor;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.function.BiConsumer;

/**
 * The work of one partition: rows are read in chunks of {@code chunk}, each chunk is tokenized and predicted in
 * batches of {@code batch} (longest first, as {@code dynalora predict} plans them), and the rows come back in
 * their input order with the prediction columns appended. Only one chunk is held in memory at a time.
 */
final class PredictPartitions implements MapPartitionsFunction<Row, Row> {
    private static final long serialVersionUID = 1L;

    /**
     * Test hook, run in this JVM (local mode: the test's JVM) before each chunk of a partition is predicted, with
     * the task and the chunk's number in the partition (0, 1, ...).
     */
    static volatile BiConsumer<TaskContext, Integer> beforeChunk;

    private final String runDir;
    private final int textColumn;
    private final int pairColumn;
    private final String textName;
    private final String pairName;
    private final int batch;
    private final int chunk;
    private final int threads;

    PredictPartitions(String runDir, int textColumn, String textName, int pairColumn, String pairName, int batch,
                      int chunk, int threads) {
        this.runDir = runDir;
        this.textColumn = textColumn;
        this.textName = textName;
        this.pairColumn = pairColumn;
        this.pairName = pairName;
        this.batch = batch;
        this.chunk = chunk;
        this.threads = threads;
    }

    @Override
    public Iterator<Row> call(Iterator<Row> rows) {
        if (!rows.hasNext()) {
            return Collections.emptyIterator();
        }
        LoadedRun run = LoadedRun.get(runDir, threads > 0 ? threads : executorCores());
        int[] chunks = {0};
        return new ChunkedRows<>(rows, in -> {
            BiConsumer<TaskContext, Integer> hook = beforeChunk;
            if (hook != null) {
                hook.accept(TaskContext.get(), chunks[0]);
            }
            chunks[0]++;
            return nextChunk(run, in);
        });
    }

    private Iterator<Row> nextChunk(LoadedRun run, Iterator<Row> rows) {
        List<Row> in = new ArrayList<>(chunk);
        List<Example> examples = new ArrayList<>(chunk);
        while (rows.hasNext() && in.size() < chunk) {
            Row r = rows.next();
            String a = text(r, textColumn, textName);
            String b = pairColumn < 0 ? null : text(r, pairColumn, pairName);
            examples.add(new Example(a, b, Example.NO_LABEL, Float.NaN, in.size(), in.size() + 1));
            in.add(r);
        }
        float[] logits = run.logits(examples, batch);
        List<String> predictions = Predictor.predictionTexts(run.task, logits, run.numLabels);
        int c = run.numLabels;
        List<Row> out = new ArrayList<>(in.size());
        for (int i = 0; i < in.size(); i++) {
            Row r = in.get(i);
            Object[] values = new Object[r.length() + 3];
            for (int j = 0; j < r.length(); j++) {
                values[j] = r.get(j);
            }
            float[] l = new float[c];
            System.arraycopy(logits, i * c, l, 0, c);
            values[r.length()] = predictions.get(i);
            values[r.length() + 1] = l;
            values[r.length() + 2] = run.task.isRegression() ? null : Predictor.probabilities(l);
            out.add(RowFactory.create(values));
        }
        return out.iterator();
    }

    static String text(Row r, int column, String name) {
        if (r.isNullAt(column)) {
            throw new UserInputException("column " + name + " is null in a row; drop or fill null texts before predicting");
        }
        return r.getString(column);
    }

    /** Compute threads for a model in this executor: spark.executor.cores when set, else the machine's cores. */
    static int executorCores() {
        SparkEnv env = SparkEnv.get();
        int all = Runtime.getRuntime().availableProcessors();
        if (env == null) {
            return all;
        }
        return Math.max(1, Math.min(all, env.conf().getInt("spark.executor.cores", all)));
    }
}
