package dev.dynalora.spark;

import dev.dynalora.UserInputException;
import dev.dynalora.generation.Completion;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import scala.Tuple2;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;

/**
 * The work of one partition of a generate job. Rows come with their index in the whole input (Spark's
 * zipWithIndex), and are generated in chunks of consecutive rows, each chunk with the index of its first row, so
 * that a prompt is sampled exactly as {@code dynalora generate} samples the prompt on that line of its input.
 */
final class GeneratePartitions implements FlatMapFunction<Iterator<Tuple2<Row, Long>>, Row> {
    private static final long serialVersionUID = 1L;

    /** Rows handed to the generator at once; it keeps options.batch() of them in flight. */
    static final int CHUNK = 64;

    private final String modelDir;
    private final String adapterDir;
    private final int promptColumn;
    private final String promptName;
    private final DynaloraSpark.GenerateOptions options;

    GeneratePartitions(String modelDir, String adapterDir, int promptColumn, String promptName,
                       DynaloraSpark.GenerateOptions options) {
        this.modelDir = modelDir;
        this.adapterDir = adapterDir;
        this.promptColumn = promptColumn;
        this.promptName = promptName;
        this.options = options;
    }

    @Override
    public Iterator<Row> call(Iterator<Tuple2<Row, Long>> rows) {
        if (!rows.hasNext()) {
            return Collections.emptyIterator();
        }
        int threads = options.threads() > 0 ? options.threads() : PredictPartitions.executorCores();
        LoadedDecoder dec = LoadedDecoder.get(modelDir, adapterDir, threads);
        return new ChunkedRows<>(rows, in -> nextChunk(dec, in));
    }

    private Iterator<Row> nextChunk(LoadedDecoder dec, Iterator<Tuple2<Row, Long>> rows) {
        List<Row> in = new ArrayList<>(CHUNK);
        List<int[]> ids = new ArrayList<>(CHUNK);
        long first = -1;
        while (rows.hasNext() && in.size() < CHUNK) {
            Tuple2<Row, Long> t = rows.next();
            long index = t._2();
            if (first < 0) {
                first = index;
            } else if (index != first + in.size()) {
                throw new IllegalStateException("rows of a partition are not consecutive: " + index + " after "
                        + (first + in.size() - 1));
            }
            Row r = t._1();
            int[] p = dec.encode(PredictPartitions.text(r, promptColumn, promptName));
            if (p.length == 0) {
                throw new UserInputException("row " + (index + 1) + ": the prompt in column " + promptName
                        + " has no tokens (this tokenizer adds no BOS to an empty text)");
            }
            if (p.length > dec.context()) {
                throw new UserInputException("row " + (index + 1) + ": the prompt in column " + promptName + " has "
                        + p.length + " tokens, more than the model's context of " + dec.context()
                        + " tokens (max_position_embeddings)");
            }
            in.add(r);
            ids.add(p);
        }
        List<Completion> done = dec.generate(ids, first, options.config(), options.batch());
        List<Row> out = new ArrayList<>(in.size());
        for (int i = 0; i < in.size(); i++) {
            Row r = in.get(i);
            Completion c = done.get(i);
            Object[] values = new Object[r.length() + 4];
            for (int j = 0; j < r.length(); j++) {
                values[j] = r.get(j);
            }
            values[r.length()] = c.text();
            values[r.length() + 1] = c.finishReason().json();
            values[r.length() + 2] = c.promptIds();
            values[r.length() + 3] = c.completionIds();
            out.add(RowFactory.create(values));
        }
        return out.iterator();
    }
}
