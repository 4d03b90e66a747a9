package dev.dynalora.training;

import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.data.BatchPlanner;
import dev.dynalora.data.LmExample;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.models.CausalLm;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongConsumer;

/**
 * Next-token prediction on a causal LM (tasks {@code lm} and {@code sft}): each batch is right-padded
 * to its longest example; the loss is the mean cross-entropy over the scored positions of the batch (padding
 * and, for sft, the prompt are not scored), as the PyTorch reference computes it. Validation reports the mean
 * loss over every scored token of the split and its perplexity, exp(loss).
 */
public final class CausalLmObjective implements Objective {
    private final CausalLm model;
    private final List<LmExample> train;
    private final List<LmExample> valid;
    private final int[] trainLengths;

    public CausalLmObjective(CausalLm model, List<LmExample> train, List<LmExample> valid) {
        this.model = model;
        this.train = List.copyOf(train);
        this.valid = List.copyOf(valid);
        this.trainLengths = lengths(train);
    }

    private static int[] lengths(List<LmExample> examples) {
        int[] l = new int[examples.size()];
        for (int i = 0; i < l.length; i++) {
            l[i] = examples.get(i).inputLength();
        }
        return l;
    }

    @Override
    public int trainExamples() {
        return train.size();
    }

    @Override
    public int[] trainLengths() {
        return trainLengths;
    }

    @Override
    public int evalExamples() {
        return valid.size();
    }

    @Override
    public String evalSplit() {
        return "valid";
    }

    @Override
    public Loss lossAndGradients(Kernels k, int[] idx, long seed, long step) {
        Batch b = Batch.of(train, idx);
        TokenBatch tb = new TokenBatch(idx.length, b.seqLen, b.mask, true, seed, step);
        float loss = model.lossAndGradientsOnTargets(k, b.ids, b.targets, tb);
        return new Loss(loss, (long) idx.length * b.seqLen);
    }

    @Override
    public Loss lossAndGradients(Kernels k, int[] batch, int from, int to, long seed, long step) {
        if (from == 0 && to == batch.length) {
            return lossAndGradients(k, batch, seed, step);
        }
        Batch b = Batch.of(train, batch);
        int a = from * b.seqLen;
        int e = to * b.seqLen;
        int[] mask = java.util.Arrays.copyOfRange(b.mask, a, e);
        TokenBatch tb = new TokenBatch(to - from, b.seqLen, mask, true, seed, step, from);
        float loss = model.lossAndGradientsOnTargets(k, java.util.Arrays.copyOfRange(b.ids, a, e),
                java.util.Arrays.copyOfRange(b.targets, a, e), tb, b.scored);
        return new Loss(loss, (long) (to - from) * b.seqLen);
    }

    @Override
    public Map<String, Double> evaluate(Kernels k, int batch, LongConsumer progress) {
        double sum = 0;
        long count = 0;
        for (int[] idx : BatchPlanner.evalBatches(lengths(valid), batch)) {
            Batch b = Batch.of(valid, idx);
            TokenBatch tb = new TokenBatch(idx.length, b.seqLen, b.mask, false, 0, 0);
            float mean = model.lossOnTargets(k, b.ids, b.targets, tb);
            if (b.scored > 0) {
                sum += (double) mean * b.scored;
                count += b.scored;
            }
            if (progress != null) {
                progress.accept(idx.length);
            }
        }
        double loss = count == 0 ? Double.NaN : sum / count;
        Map<String, Double> m = new LinkedHashMap<>();
        m.put("loss", loss);
        m.put("perplexity", Math.exp(loss));
        return m;
    }

    @Override
    public String primaryMetric() {
        return "loss";
    }

    @Override
    public boolean higherIsBetter() {
        return false;
    }

    /** A right-padded batch: input ids, per-position targets (IGNORE where not scored), attention mask. */
    static final class Batch {
        final int seqLen;
        final int[] ids;
        final int[] targets;
        final int[] mask;
        final long scored;

        private Batch(int seqLen, int[] ids, int[] targets, int[] mask, long scored) {
            this.seqLen = seqLen;
            this.ids = ids;
            this.targets = targets;
            this.mask = mask;
            this.scored = scored;
        }

        static Batch of(List<LmExample> examples, int[] idx) {
            int len = 0;
            for (int i : idx) {
                len = Math.max(len, examples.get(i).inputLength());
            }
            int[] ids = new int[idx.length * len];
            int[] targets = new int[idx.length * len];
            int[] mask = new int[idx.length * len];
            java.util.Arrays.fill(targets, CausalLm.IGNORE);
            long scored = 0;
            for (int b = 0; b < idx.length; b++) {
                LmExample e = examples.get(idx[b]);
                int[] t = e.ids();
                int base = b * len;
                for (int j = 0; j < e.inputLength(); j++) {
                    ids[base + j] = t[j];
                    mask[base + j] = 1;
                    if (j >= e.firstTarget()) {
                        targets[base + j] = t[j + 1];
                        scored++;
                    }
                }
            }
            return new Batch(len, ids, targets, mask, scored);
        }
    }
}
