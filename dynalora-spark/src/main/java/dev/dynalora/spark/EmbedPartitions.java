package dev.dynalora.spark;

import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;

/** The work of one partition of an embed job: consecutive rows in batches, as dynalora embed batches its lines. */
final class EmbedPartitions implements MapPartitionsFunction<Row, Row> {
    private static final long serialVersionUID = 1L;

    private final String modelDir;
    private final int textColumn;
    private final String textName;
    private final int pairColumn;
    private final String pairName;
    private final DynaloraSpark.EmbedOptions options;
    private final int threads;

    EmbedPartitions(String modelDir, int textColumn, String textName, int pairColumn, String pairName,
                    DynaloraSpark.EmbedOptions options) {
        this.modelDir = modelDir;
        this.textColumn = textColumn;
        this.textName = textName;
        this.pairColumn = pairColumn;
        this.pairName = pairName;
        this.options = options;
        this.threads = options.threads();
    }

    @Override
    public Iterator<Row> call(Iterator<Row> rows) {
        if (!rows.hasNext()) {
            return Collections.emptyIterator();
        }
        LoadedEncoder enc = LoadedEncoder.get(modelDir, options.maxLen(),
                threads > 0 ? threads : PredictPartitions.executorCores());
        return new ChunkedRows<>(rows, in -> nextBatch(enc, in));
    }

    private Iterator<Row> nextBatch(LoadedEncoder enc, Iterator<Row> rows) {
        List<Row> in = new ArrayList<>(options.batch());
        List<String> a = new ArrayList<>(options.batch());
        List<String> b = pairColumn < 0 ? null : new ArrayList<>(options.batch());
        while (rows.hasNext() && in.size() < options.batch()) {
            Row r = rows.next();
            a.add(PredictPartitions.text(r, textColumn, textName));
            if (b != null) {
                b.add(PredictPartitions.text(r, pairColumn, pairName));
            }
            in.add(r);
        }
        float[][] emb = enc.embed(a, b, options.cls(), options.normalize());
        List<Row> out = new ArrayList<>(in.size());
        for (int i = 0; i < in.size(); i++) {
            Row r = in.get(i);
            Object[] values = new Object[r.length() + 1];
            for (int j = 0; j < r.length(); j++) {
                values[j] = r.get(j);
            }
            values[r.length()] = emb[i];
            out.add(RowFactory.create(values));
        }
        return out.iterator();
    }
}
