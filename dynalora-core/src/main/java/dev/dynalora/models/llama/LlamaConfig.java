package dev.dynalora.models.llama;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dynalora.UserInputException;
import dev.dynalora.formats.ModelConfig;

import java.nio.file.Path;
import java.util.Arrays;

/**
 * A Llama decoder's config.json: the fields of transformers' LlamaConfig that this implementation reads,
 * with its defaults. Sizes, eps, rope_theta and tie_word_embeddings are parsed by {@link ModelConfig}
 * (which knows model_type "llama"); this class adds what only a decoder needs (bos/eos ids) and refuses,
 * with a one-line {@link UserInputException}, every setting that would make the model compute something
 * other than what {@link LlamaForCausalLM} implements: better a clear refusal at load time than logits that
 * are quietly wrong.
 */
public final class LlamaConfig {
    private final ModelConfig base;
    private final int bosTokenId;
    private final int[] eosTokenIds;

    private LlamaConfig(ModelConfig base) {
        this.base = base;
        String src = base.source();
        if (!base.isLlama()) {
            throw new UserInputException(src + ": model_type '" + base.modelType() + "' is not a Llama model (expected llama)");
        }
        JsonNode raw = base.raw();
        JsonNode scaling = raw.get("rope_scaling");
        if (scaling != null && !scaling.isNull()) {
            throw new UserInputException(src + ": \"rope_scaling\" is not supported yet (got " + snippet(scaling)
                    + "); only plain RoPE models can be loaded");
        }
        if (!"silu".equals(base.hiddenAct())) {
            throw new UserInputException(src + ": hidden_act '" + base.hiddenAct()
                    + "' is not supported for Llama (only silu, the SwiGLU MLP)");
        }
        // Biases and attention dropout would each need code this model does not have.
        for (String flag : new String[] {"attention_bias", "mlp_bias"}) {
            JsonNode v = raw.get(flag);
            if (v != null && v.asBoolean(false)) {
                throw new UserInputException(src + ": \"" + flag + "\": true is not supported (Llama projections without bias only)");
            }
        }
        if (base.attentionProbsDropoutProb() != 0) {
            throw new UserInputException(src + ": \"attention_dropout\" " + base.attentionProbsDropoutProb()
                    + " is not supported (only 0)");
        }
        JsonNode headDim = raw.get("head_dim");
        if (headDim != null && !headDim.isNull() && headDim.asInt(-1) != base.headDim()) {
            throw new UserInputException(src + ": \"head_dim\" " + snippet(headDim) + " differs from hidden_size / num_attention_heads = "
                    + base.headDim() + ", which is not supported");
        }
        if (base.headDim() % 2 != 0) {
            throw new UserInputException(src + ": head dimension " + base.headDim()
                    + " (hidden_size / num_attention_heads) must be even for rotary embeddings");
        }
        // transformers' LlamaConfig defaults: bos 1, eos 2 (eos may be a list, as Llama 3 has).
        bosTokenId = tokenId(raw, "bos_token_id", 1);
        eosTokenIds = eosIds(raw);
    }

    /** Reads and checks {@code modelDir/config.json}. */
    public static LlamaConfig read(Path modelDir) {
        return new LlamaConfig(ModelConfig.read(modelDir));
    }

    /** Checks an already parsed config (for example one built inline in a test). */
    public static LlamaConfig of(ModelConfig base) {
        return new LlamaConfig(base);
    }

    private int tokenId(JsonNode raw, String key, int dflt) {
        JsonNode v = raw.get(key);
        if (v == null) {
            return dflt;
        }
        if (v.isNull()) {
            return -1;
        }
        return checkedId(key, v);
    }

    private int checkedId(String key, JsonNode v) {
        if (!v.isIntegralNumber() || !v.canConvertToInt() || v.intValue() < 0 || v.intValue() >= base.vocabSize()) {
            throw new UserInputException(base.source() + ": \"" + key + "\" must be a token id in [0, " + base.vocabSize()
                    + "), got " + snippet(v));
        }
        return v.intValue();
    }

    private int[] eosIds(JsonNode raw) {
        JsonNode v = raw.get("eos_token_id");
        if (v == null) {
            return new int[] {2};
        }
        if (v.isNull()) {
            return new int[0];
        }
        if (!v.isArray()) {
            return new int[] {checkedId("eos_token_id", v)};
        }
        int[] ids = new int[v.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = checkedId("eos_token_id", v.get(i));
        }
        return ids;
    }

    private static String snippet(JsonNode v) {
        String s = v.toString();
        return s.length() > 60 ? s.substring(0, 60) + "..." : s;
    }

    /** The generic config this was built from (source, raw JSON, toJson for export). */
    public ModelConfig base() {
        return base;
    }

    public int vocabSize() {
        return base.vocabSize();
    }

    public int hiddenSize() {
        return base.hiddenSize();
    }

    public int intermediateSize() {
        return base.intermediateSize();
    }

    public int numHiddenLayers() {
        return base.numHiddenLayers();
    }

    public int numAttentionHeads() {
        return base.numAttentionHeads();
    }

    /** Key/value heads (grouped-query attention); num_attention_heads when absent. */
    public int numKeyValueHeads() {
        return base.numKeyValueHeads();
    }

    public int headDim() {
        return base.headDim();
    }

    /** Width of the k and v projections: numKeyValueHeads * headDim. */
    public int kvDim() {
        return numKeyValueHeads() * headDim();
    }

    public float rmsNormEps() {
        return (float) base.rmsNormEps();
    }

    public double ropeTheta() {
        return base.ropeTheta();
    }

    /** The longest sequence the RoPE table covers (positions 0 .. max - 1). */
    public int maxPositionEmbeddings() {
        return base.maxPositionEmbeddings();
    }

    /** Whether lm_head shares the embedding matrix (then the checkpoint need not store lm_head.weight). */
    public boolean tieWordEmbeddings() {
        return base.tieWordEmbeddings();
    }

    /** The beginning-of-sequence id, or -1 when the config sets it to null. */
    public int bosTokenId() {
        return bosTokenId;
    }

    /** The end-of-sequence ids (one for Llama 2; several for Llama 3; none when null). */
    public int[] eosTokenIds() {
        return eosTokenIds.clone();
    }

    @Override
    public String toString() {
        return "LlamaConfig[" + base + ", bos=" + bosTokenId + ", eos=" + Arrays.toString(eosTokenIds) + "]";
    }
}
