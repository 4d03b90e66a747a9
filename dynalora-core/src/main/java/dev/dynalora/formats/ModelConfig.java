package dev.dynalora.formats;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.UserInputException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A Hugging Face {@code config.json} for the architectures we run: BERT encoders ({@code "bert"}) and Llama
 * decoders ({@code "llama"}). Immutable.
 *
 * <p>Fields absent from the file take the defaults of the Hugging Face config class of that model type
 * ({@code BertConfig}, {@code LlamaConfig}), so a config means here what it means in transformers. The
 * exception is the five sizes that fix the tensor shapes (vocab_size, hidden_size, num_hidden_layers,
 * num_attention_heads, intermediate_size): these are required, because silently assuming BERT-base's 768
 * for a file that forgot hidden_size turns a clear config error into a baffling shape mismatch later.
 *
 * <p>Fields that only one architecture uses still have a value for the other (the other class's default,
 * e.g. {@link #layerNormEps()} of a Llama config is 1e-12); code for an architecture reads its own fields.
 * Everything else in the file is kept in {@link #raw()} and written back by {@link #toJson()}.
 */
public final class ModelConfig {
    public static final String FILE_NAME = "config.json";
    public static final List<String> SUPPORTED_TYPES = List.of("bert", "llama");

    private final String source;
    private final ObjectNode raw;
    private final String modelType;
    private final int vocabSize;
    private final int hiddenSize;
    private final int numHiddenLayers;
    private final int numAttentionHeads;
    private final int numKeyValueHeads;
    private final int intermediateSize;
    private final String hiddenAct;
    private final double hiddenDropoutProb;
    private final double attentionProbsDropoutProb;
    private final int maxPositionEmbeddings;
    private final int typeVocabSize;
    private final double layerNormEps;
    private final double rmsNormEps;
    private final int padTokenId;
    private final double ropeTheta;
    private final boolean tieWordEmbeddings;
    private final String positionEmbeddingType;

    private ModelConfig(String source, ObjectNode raw) {
        this.source = source;
        this.raw = raw;
        Fields f = new Fields(source, raw);
        JsonNode type = raw.get("model_type");
        if (type == null || type.isNull()) {
            throw new UserInputException(source + ": missing \"model_type\" (supported: "
                    + String.join(", ", SUPPORTED_TYPES) + ")");
        }
        if (!type.isTextual()) {
            throw new UserInputException(source + ": \"model_type\" must be a string, got " + Fields.snippet(type));
        }
        modelType = type.textValue();
        boolean bert = "bert".equals(modelType);
        if (!bert && !"llama".equals(modelType)) {
            throw new UserInputException(source + ": unsupported model_type " + FormatErrors.quote(modelType)
                    + " (supported: " + String.join(", ", SUPPORTED_TYPES) + ")");
        }

        vocabSize = f.requiredInt("vocab_size");
        hiddenSize = f.requiredInt("hidden_size");
        numHiddenLayers = f.requiredInt("num_hidden_layers");
        numAttentionHeads = f.requiredInt("num_attention_heads");
        intermediateSize = f.requiredInt("intermediate_size");
        // Defaults below: transformers' BertConfig / LlamaConfig constructor defaults.
        numKeyValueHeads = f.optionalInt("num_key_value_heads", numAttentionHeads);
        hiddenAct = f.optionalString("hidden_act", bert ? "gelu" : "silu");
        hiddenDropoutProb = f.optionalDouble("hidden_dropout_prob", bert ? 0.1 : 0.0);
        // Llama calls its attention dropout "attention_dropout".
        attentionProbsDropoutProb = f.optionalDouble(bert ? "attention_probs_dropout_prob" : "attention_dropout",
                bert ? 0.1 : 0.0);
        maxPositionEmbeddings = f.optionalInt("max_position_embeddings", bert ? 512 : 2048);
        typeVocabSize = f.optionalInt("type_vocab_size", bert ? 2 : 0);
        layerNormEps = f.optionalDouble("layer_norm_eps", 1e-12);
        rmsNormEps = f.optionalDouble("rms_norm_eps", 1e-6);
        padTokenId = f.optionalInt("pad_token_id", bert ? 0 : -1);
        ropeTheta = f.optionalDouble("rope_theta", 10000.0);
        tieWordEmbeddings = f.optionalBoolean("tie_word_embeddings", bert);
        positionEmbeddingType = f.optionalString("position_embedding_type", bert ? "absolute" : "rope");

        positive("vocab_size", vocabSize);
        positive("hidden_size", hiddenSize);
        positive("num_hidden_layers", numHiddenLayers);
        positive("num_attention_heads", numAttentionHeads);
        positive("num_key_value_heads", numKeyValueHeads);
        positive("intermediate_size", intermediateSize);
        positive("max_position_embeddings", maxPositionEmbeddings);
        if (bert) {
            positive("type_vocab_size", typeVocabSize);
        } else if (typeVocabSize < 0) {
            throw new UserInputException(source + ": \"type_vocab_size\" must not be negative, got " + typeVocabSize);
        }
        if (hiddenSize % numAttentionHeads != 0) {
            throw new UserInputException(source + ": hidden_size " + hiddenSize
                    + " is not divisible by num_attention_heads " + numAttentionHeads);
        }
        if (numAttentionHeads % numKeyValueHeads != 0) {
            throw new UserInputException(source + ": num_attention_heads " + numAttentionHeads
                    + " is not divisible by num_key_value_heads " + numKeyValueHeads);
        }
        probability("hidden_dropout_prob", hiddenDropoutProb);
        probability(bert ? "attention_probs_dropout_prob" : "attention_dropout", attentionProbsDropoutProb);
        positiveReal("layer_norm_eps", layerNormEps);
        positiveReal("rms_norm_eps", rmsNormEps);
        positiveReal("rope_theta", ropeTheta);
        if (padTokenId != -1 && (padTokenId < 0 || padTokenId >= vocabSize)) {
            throw new UserInputException(source + ": pad_token_id " + padTokenId + " is outside the vocabulary [0, "
                    + vocabSize + ")");
        }
    }

    /**
     * Reads {@code modelDir/config.json}.
     *
     * @throws UserInputException if the folder or file is missing or unreadable, or the config is invalid
     */
    public static ModelConfig read(Path modelDir) {
        if (!Files.exists(modelDir)) {
            throw new UserInputException(modelDir + ": model folder does not exist");
        }
        if (!Files.isDirectory(modelDir)) {
            throw new UserInputException(modelDir + ": expected a model folder containing " + FILE_NAME
                    + ", got a file");
        }
        Path file = modelDir.resolve(FILE_NAME);
        if (!Files.isRegularFile(file)) {
            throw new UserInputException(modelDir + ": no " + FILE_NAME + " in this model folder");
        }
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (java.nio.charset.MalformedInputException e) {
            throw new UserInputException(file + ": not valid UTF-8", e);
        } catch (IOException e) {
            throw new UserInputException(file + ": cannot read: " + FormatErrors.describe(e), e);
        }
        return parse(text, file.toString());
    }

    /**
     * Parses config JSON text; {@code source} names it in error messages (usually the file path). Useful in
     * tests to build a small model's config inline.
     */
    public static ModelConfig parse(String json, String source) {
        JsonNode node;
        try {
            node = Json.MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            throw new UserInputException(source + ": not valid JSON: " + FormatErrors.describe(e), e);
        }
        return fromJson(node, source);
    }

    /** Builds a config from an already parsed JSON object (copied, so later changes to it do not leak in). */
    public static ModelConfig fromJson(JsonNode node, String source) {
        if (node == null || !node.isObject()) {
            throw new UserInputException(source + ": the config must be a JSON object");
        }
        return new ModelConfig(source, ((ObjectNode) node).deepCopy());
    }

    /** A BERT config with the given sizes and BertConfig defaults for the rest (for tests and tiny models). */
    public static ModelConfig bert(int vocabSize, int hiddenSize, int numHiddenLayers, int numAttentionHeads,
            int intermediateSize, int maxPositionEmbeddings) {
        ObjectNode n = Json.MAPPER.createObjectNode();
        n.put("model_type", "bert");
        n.put("vocab_size", vocabSize);
        n.put("hidden_size", hiddenSize);
        n.put("num_hidden_layers", numHiddenLayers);
        n.put("num_attention_heads", numAttentionHeads);
        n.put("intermediate_size", intermediateSize);
        n.put("max_position_embeddings", maxPositionEmbeddings);
        return new ModelConfig("bert config", n);
    }

    /**
     * This config as JSON: everything from the original file, with our typed fields written over it (and
     * defaults we assumed made explicit), so that transformers reads back the same model.
     */
    public ObjectNode toJson() {
        ObjectNode n = raw.deepCopy();
        n.put("model_type", modelType);
        n.put("vocab_size", vocabSize);
        n.put("hidden_size", hiddenSize);
        n.put("num_hidden_layers", numHiddenLayers);
        n.put("num_attention_heads", numAttentionHeads);
        n.put("intermediate_size", intermediateSize);
        n.put("hidden_act", hiddenAct);
        n.put("max_position_embeddings", maxPositionEmbeddings);
        n.put("tie_word_embeddings", tieWordEmbeddings);
        if (isBert()) {
            n.put("hidden_dropout_prob", hiddenDropoutProb);
            n.put("attention_probs_dropout_prob", attentionProbsDropoutProb);
            n.put("type_vocab_size", typeVocabSize);
            n.put("layer_norm_eps", layerNormEps);
            n.put("position_embedding_type", positionEmbeddingType);
        } else {
            n.put("num_key_value_heads", numKeyValueHeads);
            n.put("attention_dropout", attentionProbsDropoutProb);
            n.put("rms_norm_eps", rmsNormEps);
            n.put("rope_theta", ropeTheta);
        }
        if (padTokenId >= 0) {
            n.put("pad_token_id", padTokenId);
        } else if (!n.has("pad_token_id")) {
            n.putNull("pad_token_id");
        }
        return n;
    }

    /** Writes {@link #toJson()} pretty-printed to {@code modelDir/config.json}, atomically. */
    public void write(Path modelDir) {
        byte[] bytes;
        try {
            bytes = Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(toJson());
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise a JSON tree", e); // cannot happen for a tree
        }
        AtomicFiles.writeBytes(modelDir.resolve(FILE_NAME), bytes);
    }

    private void positive(String key, int value) {
        if (value <= 0) {
            throw new UserInputException(source + ": \"" + key + "\" must be positive, got " + value);
        }
    }

    private void positiveReal(String key, double value) {
        if (!(value > 0) || Double.isInfinite(value)) {
            throw new UserInputException(source + ": \"" + key + "\" must be a positive number, got " + value);
        }
    }

    private void probability(String key, double value) {
        if (!(value >= 0 && value < 1)) {
            throw new UserInputException(source + ": \"" + key + "\" must be in [0, 1), got " + value);
        }
    }

    /** Typed access to the JSON fields with one-line errors; JSON null counts as absent (as in transformers). */
    private static final class Fields {
        private final String source;
        private final JsonNode node;

        Fields(String source, JsonNode node) {
            this.source = source;
            this.node = node;
        }

        private JsonNode get(String key) {
            JsonNode v = node.get(key);
            return v == null || v.isNull() ? null : v;
        }

        int requiredInt(String key) {
            JsonNode v = get(key);
            if (v == null) {
                throw new UserInputException(source + ": missing required \"" + key + "\"");
            }
            return toInt(key, v);
        }

        int optionalInt(String key, int dflt) {
            JsonNode v = get(key);
            return v == null ? dflt : toInt(key, v);
        }

        private int toInt(String key, JsonNode v) {
            // 384.0 is accepted (some exporters write floats); 384.5, "384" and 1e100 are not.
            if (!v.isNumber() || !v.canConvertToExactIntegral() || !v.canConvertToInt()) {
                throw new UserInputException(source + ": \"" + key + "\" must be an integer, got " + snippet(v));
            }
            return v.intValue();
        }

        double optionalDouble(String key, double dflt) {
            JsonNode v = get(key);
            if (v == null) {
                return dflt;
            }
            if (!v.isNumber()) {
                throw new UserInputException(source + ": \"" + key + "\" must be a number, got " + snippet(v));
            }
            return v.doubleValue();
        }

        String optionalString(String key, String dflt) {
            JsonNode v = get(key);
            if (v == null) {
                return dflt;
            }
            if (!v.isTextual()) {
                throw new UserInputException(source + ": \"" + key + "\" must be a string, got " + snippet(v));
            }
            return v.textValue();
        }

        boolean optionalBoolean(String key, boolean dflt) {
            JsonNode v = get(key);
            if (v == null) {
                return dflt;
            }
            if (!v.isBoolean()) {
                throw new UserInputException(source + ": \"" + key + "\" must be true or false, got " + snippet(v));
            }
            return v.booleanValue();
        }

        private static String snippet(JsonNode v) {
            String s = v.toString();
            return s.length() > 60 ? s.substring(0, 60) + "..." : s;
        }
    }

    /** Where this config came from (a file path, or a label given to {@link #parse}), for error messages. */
    public String source() {
        return source;
    }

    /** The whole JSON object as read (a copy: the config stays immutable). */
    public JsonNode raw() {
        return raw.deepCopy();
    }

    public String modelType() {
        return modelType;
    }

    public boolean isBert() {
        return "bert".equals(modelType);
    }

    public boolean isLlama() {
        return "llama".equals(modelType);
    }

    public int vocabSize() {
        return vocabSize;
    }

    public int hiddenSize() {
        return hiddenSize;
    }

    public int numHiddenLayers() {
        return numHiddenLayers;
    }

    public int numAttentionHeads() {
        return numAttentionHeads;
    }

    /** Key/value heads for grouped-query attention; equals {@link #numAttentionHeads()} when absent (BERT). */
    public int numKeyValueHeads() {
        return numKeyValueHeads;
    }

    /** hidden_size / num_attention_heads (exact: validated). */
    public int headDim() {
        return hiddenSize / numAttentionHeads;
    }

    public int intermediateSize() {
        return intermediateSize;
    }

    /** As written in the file ("gelu", "gelu_new", "silu", ...); the model decides which it supports. */
    public String hiddenAct() {
        return hiddenAct;
    }

    public double hiddenDropoutProb() {
        return hiddenDropoutProb;
    }

    /** BERT's attention_probs_dropout_prob, or Llama's attention_dropout. */
    public double attentionProbsDropoutProb() {
        return attentionProbsDropoutProb;
    }

    public int maxPositionEmbeddings() {
        return maxPositionEmbeddings;
    }

    /** Token type (segment) vocabulary; 0 for Llama, which has no token types. */
    public int typeVocabSize() {
        return typeVocabSize;
    }

    public double layerNormEps() {
        return layerNormEps;
    }

    public double rmsNormEps() {
        return rmsNormEps;
    }

    /** The padding token id, or -1 when the config has none (Llama's default). */
    public int padTokenId() {
        return padTokenId;
    }

    public double ropeTheta() {
        return ropeTheta;
    }

    public boolean tieWordEmbeddings() {
        return tieWordEmbeddings;
    }

    /** "absolute" for BERT unless the file says otherwise, "rope" for Llama. */
    public String positionEmbeddingType() {
        return positionEmbeddingType;
    }

    @Override
    public String toString() {
        return "ModelConfig[" + modelType + ", vocab=" + vocabSize + ", hidden=" + hiddenSize + ", layers="
                + numHiddenLayers + ", heads=" + numAttentionHeads + "/" + numKeyValueHeads + ", intermediate="
                + intermediateSize + ", act=" + hiddenAct + ", source=" + source + "]";
    }
}
