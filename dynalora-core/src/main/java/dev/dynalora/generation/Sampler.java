package dev.dynalora.generation;

import dev.dynalora.layers.Softmax;

import java.util.SplittableRandom;

/**
 * Picks the next token from a row of logits: the argmax when greedy; otherwise a draw from
 * softmax(logits / temperature) restricted by top-k and then top-p (see {@link GenerationConfig}). One
 * sampler per generator; its scratch is reused, so a step allocates nothing but the top-k candidate list.
 */
final class Sampler {
    private final GenerationConfig config;
    private final int vocab;
    private final float[] z;     // logits / temperature, then probabilities
    private int[] order = new int[0];
    private float[] candidateProbs = new float[0];

    Sampler(GenerationConfig config, int vocab) {
        this.config = config;
        this.vocab = vocab;
        this.z = config.sampling() ? new float[vocab] : null;
    }

    /** The next token from logits[off .. off + vocab); rng is the sequence's own generator (unused when greedy). */
    int next(float[] logits, int off, SplittableRandom rng) {
        if (!config.sampling()) {
            return argmax(logits, off, vocab);
        }
        float t = config.temperature();
        for (int i = 0; i < vocab; i++) {
            z[i] = logits[off + i] / t;
        }
        int k = config.topK();
        if (k > 0 && k < vocab) {
            return sampleTopK(k, rng);
        }
        Softmax.rowInPlace(z, 0, vocab);
        if (config.topP() < 1f) {
            return sampleNucleusOfAll(rng);
        }
        return walk(z, vocab, rng.nextDouble(), total(z, vocab));
    }

    /** The first index of the largest value (NaN never wins unless everything is NaN). */
    static int argmax(float[] v, int off, int n) {
        int best = 0;
        float max = v[off];
        for (int i = 1; i < n; i++) {
            float x = v[off + i];
            if (x > max || (Float.isNaN(max) && !Float.isNaN(x))) {
                max = x;
                best = i;
            }
        }
        return best;
    }

    /** Softmax over the k most likely tokens only, then top-p among them (already in descending order). */
    private int sampleTopK(int k, SplittableRandom rng) {
        int[] top = TopK.indices(z, 0, vocab, k);
        float[] p = probs(top.length);
        for (int c = 0; c < top.length; c++) {
            p[c] = z[top[c]];
        }
        Softmax.rowInPlace(p, 0, top.length);
        int kept = top.length;
        if (config.topP() < 1f) {
            kept = nucleus(p, top.length, config.topP());
        }
        int c = walk(p, kept, rng.nextDouble(), total(p, kept));
        return top[c];
    }

    /**
     * Top-p over the whole vocabulary (z holds the probabilities). A token below (1 - p) / (vocab - 1) can
     * never be inside the nucleus: all such tokens together hold less than 1 - p, so the tokens above the
     * cut already reach p (llama2.c's trick). Only those are sorted, usually a few hundred, not 32,000.
     */
    private int sampleNucleusOfAll(SplittableRandom rng) {
        float cutoff = (1f - config.topP()) / (vocab - 1);
        int n = 0;
        for (int i = 0; i < vocab; i++) {
            if (z[i] >= cutoff) {
                n++;
            }
        }
        int[] cand = new int[n];
        n = 0;
        for (int i = 0; i < vocab; i++) {
            if (z[i] >= cutoff) {
                cand[n++] = i;
            }
        }
        int[] sorted = TopK.indices(gather(cand), 0, n, n);
        float[] p = probs(n);
        int[] ids = ensureOrder(n);
        for (int c = 0; c < n; c++) {
            ids[c] = cand[sorted[c]];
            p[c] = z[ids[c]];
        }
        int kept = nucleus(p, n, config.topP());
        return ids[walk(p, kept, rng.nextDouble(), total(p, kept))];
    }

    private float[] gather(int[] cand) {
        float[] v = new float[cand.length];
        for (int c = 0; c < cand.length; c++) {
            v[c] = z[cand[c]];
        }
        return v;
    }

    /**
     * How many of the probabilities p[0 .. n) (descending) form the nucleus: tokens are kept while the mass
     * before them is below topP, so the kept mass is the smallest that reaches topP (at least one token).
     */
    static int nucleus(float[] p, int n, float topP) {
        double cum = 0;
        int kept = 0;
        while (kept < n && (kept == 0 || cum < topP)) {
            cum += p[kept++];
        }
        return kept;
    }

    /** Sum of p[0 .. n) in double: the mass the draw is scaled to (renormalising the kept tokens). */
    private static double total(float[] p, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += p[i];
        }
        return s;
    }

    /**
     * The index where the running sum of p[0 .. n) first exceeds u * total; the last index with a non-zero
     * probability if rounding leaves u * total beyond the sum.
     */
    private static int walk(float[] p, int n, double u, double total) {
        double target = u * total;
        double cum = 0;
        int last = 0;
        for (int i = 0; i < n; i++) {
            if (p[i] > 0) {
                cum += p[i];
                last = i;
                if (cum > target) {
                    return i;
                }
            }
        }
        return last;
    }

    private float[] probs(int n) {
        if (candidateProbs.length < n) {
            candidateProbs = new float[n];
        }
        return candidateProbs;
    }

    private int[] ensureOrder(int n) {
        if (order.length < n) {
            order = new int[n];
        }
        return order;
    }
}
