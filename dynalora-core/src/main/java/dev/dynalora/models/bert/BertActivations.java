package dev.dynalora.models.bert;

import dev.dynalora.formats.ModelConfig;
import dev.dynalora.layers.Dropout;

/**
 * Every buffer one forward and backward pass of a BERT encoder needs, allocated once for a batch shape
 * (llm.c's single allocation of activations) and reused for every step of that shape or smaller. Gradient
 * scratch is shared by all layers, since the backward pass handles one layer at a time.
 */
final class BertActivations {
    final int capacityRows;
    final int capacityBatch;
    final int capacitySeq;
    int batch;
    int seqLen;
    int[] typeIds;

    final float[] embSum;
    final float[] embLn;
    final float[] embMean;
    final float[] embRstd;
    final float[] embDx;
    final long[] embKeep;
    final float[] maskBias;
    final float[][] hidden;   // hidden[0] embeddings output, hidden[l + 1] layer l output
    final Layer[] layer;
    final float[] dHiddenA;
    final float[] dHiddenB;

    final boolean forBackward;

    /**
     * With forBackward false (inference) every layer shares one set of buffers and no gradient scratch is
     * allocated, so inference memory does not grow with depth.
     */
    BertActivations(ModelConfig c, int batch, int seqLen, boolean forBackward) {
        this.forBackward = forBackward;
        capacityBatch = batch;
        capacitySeq = seqLen;
        capacityRows = batch * seqLen;
        int h = c.hiddenSize();
        int rows = capacityRows;
        embSum = new float[rows * h];
        embLn = new float[rows * h];
        embMean = new float[rows];
        embRstd = new float[rows];
        embDx = new float[forBackward ? rows * h : 0];
        embKeep = new long[forBackward ? Dropout.maskWords(rows * h) : 0];
        maskBias = new float[rows];
        hidden = new float[c.numHiddenLayers() + 1][rows * h];
        Grads g = forBackward ? new Grads(c, batch, seqLen) : null;
        layer = new Layer[c.numHiddenLayers()];
        Layer shared = forBackward ? null : new Layer(c, batch, seqLen, null);
        for (int l = 0; l < layer.length; l++) {
            layer[l] = forBackward ? new Layer(c, batch, seqLen, g) : shared;
        }
        dHiddenA = new float[forBackward ? rows * h : 0];
        dHiddenB = new float[forBackward ? rows * h : 0];
    }

    /** Buffers are indexed by rows and by [batch, heads, seq, seq]: a smaller batch fits, a longer sequence may not. */
    boolean fits(int b, int t, boolean backward) {
        return (forBackward || !backward) && b * t <= capacityRows && b * t * t <= capacityBatch * capacitySeq * capacitySeq;
    }

    void setShape(int b, int t) {
        batch = b;
        seqLen = t;
    }

    static final class Layer {
        final float[] q;
        final float[] k;
        final float[] v;
        final float[] probs;
        final float[] ctx;
        final float[] attn;
        final float[] res1;
        final float[] h1;
        final float[] mean1;
        final float[] rstd1;
        final float[] pre;
        final float[] act;
        final float[] ffn;
        final float[] res2;
        final float[] mean2;
        final float[] rstd2;
        /** Dropout keep masks of the attention-output and FFN-output sites, recorded for backward. */
        final long[] keepAttn;
        final long[] keepFfn;
        /** Dropout keep mask of the attention probabilities (empty when the model has no attention dropout). */
        final long[] keepProbs;
        final Grads grads;

        Layer(ModelConfig c, int batch, int seqLen, Grads grads) {
            int rows = batch * seqLen;
            int h = c.hiddenSize();
            int i = c.intermediateSize();
            q = new float[rows * h];
            k = new float[rows * h];
            v = new float[rows * h];
            // Attention probabilities are kept only for backward; inference softmaxes in a small scratch.
            probs = grads != null ? new float[batch * c.numAttentionHeads() * seqLen * seqLen] : null;
            ctx = new float[rows * h];
            attn = new float[rows * h];
            res1 = new float[rows * h];
            h1 = new float[rows * h];
            mean1 = new float[rows];
            rstd1 = new float[rows];
            pre = new float[rows * i];
            act = new float[rows * i];
            ffn = new float[rows * h];
            res2 = new float[rows * h];
            mean2 = new float[rows];
            rstd2 = new float[rows];
            keepAttn = new long[grads != null ? Dropout.maskWords(rows * h) : 0];
            keepFfn = new long[grads != null ? Dropout.maskWords(rows * h) : 0];
            keepProbs = new long[grads != null && c.attentionProbsDropoutProb() > 0
                    ? Dropout.maskWords(batch * c.numAttentionHeads() * seqLen * seqLen) : 0];
            this.grads = grads;
        }
    }

    static final class Grads {
        final float[] dRes;
        final float[] dDrop;
        final float[] dH1;
        final float[] dAct; // the FFN activation gradient, turned into the pre-activation one in place
        final float[] dCtx;
        final float[] dQ;
        final float[] dK;
        final float[] dV;
        final float[] dProbs;
        /** The dropped attention probabilities of the layer at hand (empty without attention dropout). */
        final float[] droppedProbs;

        Grads(ModelConfig c, int batch, int seqLen) {
            int rows = batch * seqLen;
            int h = c.hiddenSize();
            int i = c.intermediateSize();
            dRes = new float[rows * h];
            dDrop = new float[rows * h];
            dH1 = new float[rows * h];
            dAct = new float[rows * i];
            dCtx = new float[rows * h];
            dQ = new float[rows * h];
            dK = new float[rows * h];
            dV = new float[rows * h];
            dProbs = new float[batch * c.numAttentionHeads() * seqLen * seqLen];
            droppedProbs = new float[c.attentionProbsDropoutProb() > 0 ? batch * c.numAttentionHeads() * seqLen * seqLen : 0];
        }
    }
}
