package dev.dynalora.models.llama;

/**
 * Every buffer one forward and backward pass of a Llama decoder needs, allocated once for a batch shape and
 * reused for every step of that shape or smaller (as {@code BertActivations} does for BERT). Gradient
 * scratch is shared by all layers, since backward handles one layer at a time.
 */
final class LlamaActivations {
    final int capacityRows;
    final int capacityBatch;
    final int capacitySeq;
    final boolean forBackward;

    final int[] positions;    // [rows] each token's position, for RoPE
    final float[] maskBias;   // [rows] 0 for real tokens, a large negative bias for padding keys
    final float[][] hidden;   // hidden[0] the embeddings, hidden[l + 1] the output of layer l
    final float[] normed;     // the final RMSNorm's output
    final float[] finalRstd;
    final Layer[] layer;
    final float[] dHiddenA;   // ping-pong gradients of the layer outputs
    final float[] dHiddenB;

    /**
     * With forBackward false (inference) every layer shares one set of buffers and no gradient scratch is
     * allocated, so inference memory does not grow with depth.
     */
    LlamaActivations(LlamaConfig c, int batch, int seqLen, boolean forBackward) {
        this.forBackward = forBackward;
        capacityBatch = batch;
        capacitySeq = seqLen;
        capacityRows = batch * seqLen;
        int rows = capacityRows;
        int h = c.hiddenSize();
        positions = new int[rows];
        maskBias = new float[rows];
        hidden = new float[c.numHiddenLayers() + 1][rows * h];
        normed = new float[rows * h];
        finalRstd = new float[rows];
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

    /** What one layer keeps from forward for backward (or, in inference, its working buffers). */
    static final class Layer {
        final float[] xn1;   // input_layernorm output: the q/k/v projections' input
        final float[] rstd1;
        final float[] q;     // after RoPE, as attention read it
        final float[] k;     // after RoPE
        final float[] v;
        final float[] probs; // attention probabilities; null in inference (Attention then uses a scratch)
        final float[] ctx;
        final float[] h1;    // x + o_proj(ctx): the residual stream between the two blocks
        final float[] xn2;   // post_attention_layernorm output: the gate/up projections' input
        final float[] rstd2;
        final float[] gate;
        final float[] up;
        final float[] act;   // silu(gate) * up: down_proj's input
        final Grads grads;

        Layer(LlamaConfig c, int batch, int seqLen, Grads grads) {
            int rows = batch * seqLen;
            int h = c.hiddenSize();
            int kv = c.kvDim();
            int i = c.intermediateSize();
            xn1 = new float[rows * h];
            rstd1 = new float[rows];
            q = new float[rows * h];
            k = new float[rows * kv];
            v = new float[rows * kv];
            probs = grads != null ? new float[batch * c.numAttentionHeads() * seqLen * seqLen] : null;
            ctx = new float[rows * h];
            h1 = new float[rows * h];
            xn2 = new float[rows * h];
            rstd2 = new float[rows];
            gate = new float[rows * i];
            up = new float[rows * i];
            act = new float[rows * i];
            this.grads = grads;
        }
    }

    /** Gradient scratch of one layer's backward, shared by all layers. */
    static final class Grads {
        final float[] dH1;     // gradient of h1 (the residual stream inside the layer)
        final float[] dXn;     // gradient of a norm output (xn2, then xn1)
        final float[] dCtx;
        final float[] dQ;
        final float[] dK;
        final float[] dV;
        final float[] dScores; // attention's score-gradient scratch, [batch, kvHeads, seq, seq]
        final float[] dAct;    // gradient of act, turned into that of gate in place
        final float[] dUp;

        Grads(LlamaConfig c, int batch, int seqLen) {
            int rows = batch * seqLen;
            int h = c.hiddenSize();
            int kv = c.kvDim();
            int i = c.intermediateSize();
            dH1 = new float[rows * h];
            dXn = new float[rows * h];
            dCtx = new float[rows * h];
            dQ = new float[rows * h];
            dK = new float[rows * kv];
            dV = new float[rows * kv];
            dScores = new float[batch * c.numKeyValueHeads() * seqLen * seqLen];
            dAct = new float[rows * i];
            dUp = new float[rows * i];
        }
    }
}
