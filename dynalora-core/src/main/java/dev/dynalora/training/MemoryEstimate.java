package dev.dynalora.training;

import dev.dynalora.Setting;
import dev.dynalora.UserInputException;
import dev.dynalora.UserMessage;
import dev.dynalora.formats.ModelConfig;

import java.util.Locale;

/**
 * How much heap a BERT run needs, worked out before anything big is allocated, so that a batch or length
 * too large for the heap stops at once with the numbers and a way out instead of an OutOfMemoryError an
 * hour into training.
 *
 * <p>The estimate counts float32 arrays only, which is where the memory goes: every weight of a
 * BertForSequenceClassification, a gradient and two AdamW moments per trainable parameter, and the
 * activation buffers exactly as {@code models/BertActivations} allocates them for one batch shape (kept per
 * layer for training, one shared layer for inference). Not counted: the tokenized data set, tokenizer, JIT
 * and other small objects; {@link #HEAP_FRACTION} leaves room for them. Keep {@link #activationFloats} in
 * step with BertActivations (MemoryEstimateTest compares the two).
 */
public final class MemoryEstimate {
    /** The estimate may use at most this fraction of the maximum heap. */
    public static final double HEAP_FRACTION = 0.9;

    /** Classes of the largest GLUE head (MNLI); the classifier is tiny, so the exact count hardly matters. */
    static final int HEAD_LABELS = 3;

    private static final double GIB = 1024.0 * 1024 * 1024;

    private MemoryEstimate() {
    }

    /**
     * Bytes a run of {@code c} needs at {@code batch} sequences of {@code seqLen} tokens: weights, gradient plus
     * two AdamW moments for each of {@code trainableParams} (pass 0 for inference only), and the activations
     * of one forward pass, with everything the backward pass keeps when {@code training}.
     */
    public static long bytes(ModelConfig c, int batch, int seqLen, long trainableParams, boolean training) {
        if (batch < 1 || seqLen < 1 || trainableParams < 0) {
            throw new IllegalArgumentException("batch " + batch + ", length " + seqLen + ", trainable " + trainableParams);
        }
        return 4L * (parameterCount(c) + 3 * trainableParams + activationFloats(c, batch, seqLen, training));
    }

    /** Weights of a BertForSequenceClassification: embeddings, encoder layers, pooler and classifier. */
    static long parameterCount(ModelConfig c) {
        long h = c.hiddenSize();
        long f = c.intermediateSize();
        long embeddings = ((long) c.vocabSize() + c.maxPositionEmbeddings() + c.typeVocabSize()) * h + 2 * h;
        long layer = 4 * h * h + 4 * h   // query, key, value, attention output: weights and biases
                + 2 * h * f + f + h      // intermediate and output dense: weights and biases
                + 4 * h;                 // two LayerNorms
        long head = h * h + h + HEAD_LABELS * (h + 1); // pooler, classifier
        return embeddings + c.numHiddenLayers() * layer + head;
    }

    /** Floats in the activation buffers of BertActivations for this batch shape. */
    static long activationFloats(ModelConfig c, int batch, int seqLen, boolean training) {
        long rows = (long) batch * seqLen;
        long h = c.hiddenSize();
        long f = c.intermediateSize();
        long layers = c.numHiddenLayers();
        long probs = (long) batch * c.numAttentionHeads() * seqLen * seqLen;
        // embSum, embLn [rows, h]; embMean, embRstd, maskBias [rows]; embDx [rows, h] for backward only.
        long embeddings = 2 * rows * h + 3 * rows + (training ? rows * h : 0);
        long hidden = (layers + 1) * rows * h; // hidden[0..L], kept for inference too
        // Per layer: q, k, v, ctx, attn, res1, h1, ffn, res2 [rows, h]; pre, act [rows, ffn]; mean1, rstd1,
        // mean2, rstd2 [rows]; probs [batch, heads, T, T] for backward only (inference softmaxes each head in a
        // per-thread [T, T] scratch, too small to count). Inference shares one set between all layers.
        long layer = 9 * rows * h + 2 * rows * f + 4 * rows + (training ? probs : 0);
        long layerBuffers = training ? layers * layer : layer;
        // Backward only: one Grads shared by all layers (dRes, dDrop, dH1, dCtx, dQ, dK, dV [rows, h]; dAct
        // [rows, ffn]; dProbs), and dHiddenA, dHiddenB [rows, h].
        long grads = training ? 7 * rows * h + rows * f + probs + 2 * rows * h : 0;
        // With attention-probability dropout: the dropped probabilities (shared, [batch, heads, T, T]) and each
        // layer's keep mask (one bit per probability, counted here in floats).
        long probsDropout = training && c.attentionProbsDropoutProb() > 0 ? probs + layers * (probs / 32) : 0;
        return embeddings + hidden + layerBuffers + grads + probsDropout;
    }

    /**
     * Throws if {@code estimate} bytes exceed {@link #HEAP_FRACTION} of {@code maxHeap} (usually
     * {@code Runtime.getRuntime().maxMemory()}, which is Long.MAX_VALUE without a limit), naming the settings that
     * set the batch shape.
     *
     * @throws UserInputException with the estimate, the heap and what to change
     */
    public static void check(long estimate, long maxHeap, int batch, int maxLen) {
        if (estimate > HEAP_FRACTION * maxHeap) {
            throw new UserInputException(UserMessage.of(String.format(Locale.ROOT, "training needs about %.1f GiB at ",
                    estimate / GIB), Setting.BATCH.is(batch), " ", Setting.MAX_LEN.is(maxLen),
                    String.format(Locale.ROOT, " but the heap is %.1f GiB; use a smaller ", maxHeap / GIB), Setting.BATCH,
                    " or ", Setting.MAX_LEN, ", or raise the heap with ", heapOption(estimate)));
        }
    }

    /** {@link #check(long, long, int, int)} for callers that do not have the batch shape at hand. */
    public static void check(long estimate, long maxHeap) {
        if (estimate > HEAP_FRACTION * maxHeap) {
            throw new UserInputException(UserMessage.of(String.format(Locale.ROOT,
                    "training needs about %.1f GiB but the heap is %.1f GiB; use a smaller ", estimate / GIB,
                    maxHeap / GIB), Setting.BATCH, " or ", Setting.MAX_LEN, ", or raise the heap with ",
                    heapOption(estimate)));
        }
    }

    /** The JVM option that gives the estimate room: -Xmx with {@link #suggestedHeapGiB}. */
    private static UserMessage.Ref heapOption(long estimate) {
        return Setting.JAVA_OPTIONS.is("-Xmx" + suggestedHeapGiB(estimate) + "g");
    }

    /** The whole GiB of heap under which the estimate fits within HEAP_FRACTION. */
    static long suggestedHeapGiB(long estimate) {
        return (long) Math.ceil(estimate / HEAP_FRACTION / GIB);
    }
}
