package dev.dynalora.training;

import dev.dynalora.data.Example;
import dev.dynalora.data.PaddedBatch;
import dev.dynalora.tokenize.Encoding;
import dev.dynalora.tokenize.TextTokenizer;

import java.util.ArrayList;
import java.util.List;

/** Examples tokenized once up front (ids, token types, gold labels or targets, lengths for bucketing). */
public final class EncodedExamples {
    private final List<Example> examples;
    private final List<int[]> ids = new ArrayList<>();
    private final List<int[]> types = new ArrayList<>();
    private final int[] lengths;
    private final int padId;

    public EncodedExamples(List<Example> examples, TextTokenizer tokenizer) {
        this.examples = List.copyOf(examples);
        this.lengths = new int[examples.size()];
        this.padId = tokenizer.padId();
        for (int i = 0; i < examples.size(); i++) {
            Example e = examples.get(i);
            Encoding enc = e.textB() == null ? tokenizer.encode(e.textA()) : tokenizer.encodePair(e.textA(), e.textB());
            ids.add(enc.ids());
            types.add(enc.typeIds());
            lengths[i] = enc.ids().length;
        }
    }

    public int size() {
        return examples.size();
    }

    public List<Example> examples() {
        return examples;
    }

    public int[] lengths() {
        return lengths;
    }

    public long tokens(int[] batch) {
        long n = 0;
        for (int i : batch) {
            n += lengths[i];
        }
        return n;
    }

    public PaddedBatch batch(int[] indices) {
        List<int[]> bi = new ArrayList<>(indices.length);
        List<int[]> bt = new ArrayList<>(indices.length);
        for (int i : indices) {
            bi.add(ids.get(i));
            bt.add(types.get(i));
        }
        return PaddedBatch.of(bi, bt, padId);
    }

    public int[] labels(int[] indices) {
        int[] l = new int[indices.length];
        for (int j = 0; j < indices.length; j++) {
            l[j] = examples.get(indices[j]).label();
        }
        return l;
    }

    public float[] targets(int[] indices) {
        float[] t = new float[indices.length];
        for (int j = 0; j < indices.length; j++) {
            t[j] = examples.get(indices[j]).target();
        }
        return t;
    }
}
