package dev.dynalora.serving;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.data.PaddedBatch;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.models.bert.BertEncoder;
import dev.dynalora.models.bert.PretrainedBert;
import dev.dynalora.tokenize.Encoding;
import dev.dynalora.tokenize.TextTokenizer;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * POST /v1/embeddings for an encoder (BERT family, e.g. all-MiniLM-L6-v2): each input's last hidden state, mean
 * pooled over its tokens (as sentence-transformers pools MiniLM) and L2-normalised (OpenAI's embeddings have length
 * 1). Each input runs alone, so its embedding does not depend on the other inputs of the request (equal to
 * {@code dynalora embed --normalize --batch 1}). Requests are served one at a time.
 */
final class EmbeddingService implements AutoCloseable {
    private final BertEncoder encoder;
    private final TextTokenizer tokenizer;
    private final Kernels kernels;
    private final int maxPositions;
    private final int hidden;

    EmbeddingService(Path dir, Kernels kernels) {
        this.encoder = PretrainedBert.loadEncoder(dir);
        this.maxPositions = encoder.config().maxPositionEmbeddings();
        this.hidden = encoder.config().hiddenSize();
        // No truncation: an input longer than the model's positions is refused with both numbers.
        this.tokenizer = TextTokenizer.load(dir, 1 << 24);
        this.kernels = kernels;
    }

    int maxPositions() {
        return maxPositions;
    }

    /** The request's inputs, tokenized and checked (400 naming the input). */
    List<int[]> inputs(JsonNode body) {
        JsonNode in = body.get("input");
        if (in == null || in.isNull()) {
            throw ApiException.badRequest("you must provide an input", "input");
        }
        List<int[]> out = new ArrayList<>();
        if (in.isTextual()) {
            out.add(encode(in.asText()));
        } else if (in.isArray() && !in.isEmpty()) {
            for (JsonNode e : in) {
                if (!e.isTextual()) {
                    throw ApiException.badRequest("input must be a string or a list of strings", "input");
                }
                out.add(encode(e.asText()));
            }
        } else {
            throw ApiException.badRequest("input must be a string or a non-empty list of strings", "input");
        }
        if (out.size() > 2048) {
            throw ApiException.badRequest("at most 2048 inputs per request, got " + out.size(), "input");
        }
        for (int i = 0; i < out.size(); i++) {
            if (out.get(i).length > maxPositions) {
                throw new ApiException(400, "invalid_request_error", "This model's maximum context length is " + maxPositions
                        + " tokens, however input " + i + " has " + out.get(i).length + " tokens. Please reduce the length of"
                        + " the input.", "input", "context_length_exceeded");
            }
        }
        JsonNode fmt = body.get("encoding_format");
        if (fmt != null && !fmt.isNull() && !(fmt.isTextual() && fmt.asText().equals("float"))) {
            throw ApiException.badRequest("encoding_format must be \"float\" on this server", "encoding_format");
        }
        JsonNode dims = body.get("dimensions");
        if (dims != null && !dims.isNull() && !(dims.isIntegralNumber() && dims.asInt() == hidden)) {
            throw ApiException.badRequest("dimensions must be this model's " + hidden + " (no shortening)", "dimensions");
        }
        return out;
    }

    private synchronized int[] encode(String text) {
        Encoding e = tokenizer.encode(text);
        return e.ids();
    }

    /** One normalised embedding per input, each computed alone. */
    synchronized float[][] embed(List<int[]> inputs) {
        float[][] out = new float[inputs.size()][];
        for (int i = 0; i < inputs.size(); i++) {
            int[] ids = inputs.get(i);
            PaddedBatch b = PaddedBatch.of(List.of(ids), List.of(new int[ids.length]), tokenizer.padId());
            TokenBatch tb = new TokenBatch(1, b.seqLen(), b.attentionMask(), false, 0, 0);
            float[] h = encoder.forward(kernels, b.ids(), b.typeIds(), tb, false);
            double[] acc = new double[hidden];
            for (int s = 0; s < ids.length; s++) {
                for (int j = 0; j < hidden; j++) {
                    acc[j] += h[s * hidden + j];
                }
            }
            float[] emb = new float[hidden];
            for (int j = 0; j < hidden; j++) {
                emb[j] = (float) (acc[j] / ids.length);
            }
            double ss = 0;
            for (float v : emb) {
                ss += (double) v * v;
            }
            float inv = (float) (1.0 / Math.max(Math.sqrt(ss), 1e-12));
            for (int j = 0; j < hidden; j++) {
                emb[j] *= inv;
            }
            out[i] = emb;
        }
        return out;
    }

    @Override
    public synchronized void close() {
        tokenizer.close();
    }
}
