package dev.dynalora.formats;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static dev.dynalora.formats.UserErrors.assertUserError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelConfigTest {
    @TempDir
    Path dir;

    private static final String MINIMAL_BERT = "{\"model_type\":\"bert\",\"vocab_size\":100,\"hidden_size\":32,"
            + "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"intermediate_size\":64";

    private Path folder(String json) throws IOException {
        Files.writeString(dir.resolve("config.json"), json);
        return dir;
    }

    @Test
    void readsMiniLm() {
        ModelConfig c = ModelConfig.read(SharedModels.model("all-MiniLM-L6-v2"));
        assertEquals("bert", c.modelType());
        assertTrue(c.isBert());
        assertEquals(30522, c.vocabSize());
        assertEquals(384, c.hiddenSize());
        assertEquals(6, c.numHiddenLayers());
        assertEquals(12, c.numAttentionHeads());
        assertEquals(12, c.numKeyValueHeads());
        assertEquals(32, c.headDim());
        assertEquals(1536, c.intermediateSize());
        assertEquals("gelu", c.hiddenAct());
        assertEquals(0.1, c.hiddenDropoutProb());
        assertEquals(0.1, c.attentionProbsDropoutProb());
        assertEquals(512, c.maxPositionEmbeddings());
        assertEquals(2, c.typeVocabSize());
        assertEquals(1e-12, c.layerNormEps());
        assertEquals(0, c.padTokenId());
        assertEquals("absolute", c.positionEmbeddingType());
        assertEquals("float32", c.raw().get("torch_dtype").asText());
        assertTrue(c.source().endsWith("config.json"));
    }

    @Test
    void readsBgeAndLlama() {
        ModelConfig bge = ModelConfig.read(SharedModels.model("bge-small-en-v1.5"));
        assertEquals(12, bge.numHiddenLayers());
        ModelConfig l = ModelConfig.read(SharedModels.model("stories260K"));
        assertTrue(l.isLlama());
        assertEquals(512, l.vocabSize());
        assertEquals(64, l.hiddenSize());
        assertEquals(8, l.numAttentionHeads());
        assertEquals(4, l.numKeyValueHeads());
        assertEquals(8, l.headDim());
        assertEquals(172, l.intermediateSize());
        assertEquals("silu", l.hiddenAct());
        assertEquals(1e-5, l.rmsNormEps());
        assertEquals(10000.0, l.ropeTheta());
        assertTrue(l.tieWordEmbeddings());
        assertEquals(-1, l.padTokenId());
        assertEquals(0, l.typeVocabSize());
        assertEquals(0.0, l.hiddenDropoutProb());
        assertEquals("rope", l.positionEmbeddingType());
    }

    @Test
    void bertDefaultsFollowTransformers() throws IOException {
        ModelConfig c = ModelConfig.read(folder(MINIMAL_BERT + "}"));
        assertEquals("gelu", c.hiddenAct());
        assertEquals(0.1, c.hiddenDropoutProb());
        assertEquals(0.1, c.attentionProbsDropoutProb());
        assertEquals(512, c.maxPositionEmbeddings());
        assertEquals(2, c.typeVocabSize());
        assertEquals(1e-12, c.layerNormEps());
        assertEquals(0, c.padTokenId());
        assertEquals(4, c.numKeyValueHeads());
        assertEquals("absolute", c.positionEmbeddingType());
    }

    @Test
    void llamaDefaultsFollowTransformers() throws IOException {
        ModelConfig c = ModelConfig.read(folder("{\"model_type\":\"llama\",\"vocab_size\":100,\"hidden_size\":32,"
                + "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"intermediate_size\":64,\"pad_token_id\":null}"));
        assertEquals("silu", c.hiddenAct());
        assertEquals(2048, c.maxPositionEmbeddings());
        assertEquals(1e-6, c.rmsNormEps());
        assertEquals(10000.0, c.ropeTheta());
        assertFalse(c.tieWordEmbeddings());
        assertEquals(4, c.numKeyValueHeads());
        assertEquals(-1, c.padTokenId());
    }

    @Test
    void integralFloatsAreAcceptedAsIntegers() throws IOException {
        ModelConfig c = ModelConfig.read(folder("{\"model_type\":\"bert\",\"vocab_size\":100.0,\"hidden_size\":32,"
                + "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"intermediate_size\":64}"));
        assertEquals(100, c.vocabSize());
    }

    @Test
    void missingFolderOrFile() throws IOException {
        assertUserError(() -> ModelConfig.read(dir.resolve("nope")), "nope", "does not exist");
        assertUserError(() -> ModelConfig.read(dir), dir.toString(), "no config.json");
        Path file = dir.resolve("model.safetensors");
        Files.writeString(file, "x");
        assertUserError(() -> ModelConfig.read(file), "model.safetensors", "got a file");
    }

    @Test
    void invalidJson() throws IOException {
        assertUserError(() -> ModelConfig.read(folder("{\"model_type\": \"bert\",")), "config.json", "not valid JSON");
        assertUserError(() -> ModelConfig.read(folder("[]")), "config.json", "JSON object");
        assertUserError(() -> ModelConfig.read(folder(MINIMAL_BERT + ",\"vocab_size\":5}")), "config.json",
                "not valid JSON", "vocab_size");
    }

    @Test
    void modelType() throws IOException {
        assertUserError(() -> ModelConfig.read(folder("{\"hidden_size\": 32}")), "config.json", "model_type",
                "bert, llama");
        assertUserError(() -> ModelConfig.read(folder("{\"model_type\": \"gpt2\"}")), "config.json",
                "unsupported model_type 'gpt2'", "bert, llama");
        assertUserError(() -> ModelConfig.read(folder("{\"model_type\": 7}")), "model_type");
    }

    @Test
    void missingRequiredFields() throws IOException {
        for (String key : new String[] {"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                "intermediate_size"}) {
            ObjectNode n = (ObjectNode) ModelConfig.parse(MINIMAL_BERT + "}", "x").raw();
            n.remove(key);
            assertUserError(() -> ModelConfig.read(folder(n.toString())), "config.json", "missing required \"" + key);
        }
    }

    @Test
    void wrongTypes() throws IOException {
        assertUserError(() -> ModelConfig.read(folder(MINIMAL_BERT.replace("32", "\"32\"") + "}")),
                "config.json", "\"hidden_size\" must be an integer", "\"32\"");
        assertUserError(() -> ModelConfig.read(folder(MINIMAL_BERT.replace("32", "32.5") + "}")),
                "\"hidden_size\" must be an integer");
        assertUserError(() -> ModelConfig.read(folder(MINIMAL_BERT.replace("32", "1e300") + "}")),
                "\"hidden_size\" must be an integer");
        assertUserError(() -> ModelConfig.read(folder(MINIMAL_BERT + ",\"layer_norm_eps\":\"small\"}")),
                "\"layer_norm_eps\" must be a number");
        assertUserError(() -> ModelConfig.read(folder(MINIMAL_BERT + ",\"hidden_act\":3}")),
                "\"hidden_act\" must be a string");
        assertUserError(() -> ModelConfig.read(folder(MINIMAL_BERT + ",\"tie_word_embeddings\":\"yes\"}")),
                "\"tie_word_embeddings\" must be true or false");
    }

    @Test
    void nonPositiveSizes() throws IOException {
        assertUserError(() -> ModelConfig.read(folder(MINIMAL_BERT.replace("\"vocab_size\":100", "\"vocab_size\":0") + "}")),
                "config.json", "\"vocab_size\" must be positive, got 0");
        assertUserError(() -> ModelConfig.read(folder(MINIMAL_BERT.replace("\"num_hidden_layers\":2",
                "\"num_hidden_layers\":-2") + "}")), "\"num_hidden_layers\" must be positive");
        assertUserError(() -> ModelConfig.read(folder(MINIMAL_BERT + ",\"max_position_embeddings\":0}")),
                "\"max_position_embeddings\" must be positive");
        assertUserError(() -> ModelConfig.read(folder(MINIMAL_BERT + ",\"type_vocab_size\":0}")),
                "\"type_vocab_size\" must be positive");
        assertUserError(() -> ModelConfig.read(folder(MINIMAL_BERT + ",\"layer_norm_eps\":0}")),
                "\"layer_norm_eps\" must be a positive number");
        assertUserError(() -> ModelConfig.read(folder(MINIMAL_BERT + ",\"hidden_dropout_prob\":1.0}")),
                "\"hidden_dropout_prob\" must be in [0, 1)");
        assertUserError(() -> ModelConfig.read(folder(MINIMAL_BERT + ",\"pad_token_id\":100}")),
                "pad_token_id 100 is outside the vocabulary");
    }

    @Test
    void headsMustDivideHidden() throws IOException {
        assertUserError(() -> ModelConfig.read(folder(MINIMAL_BERT.replace("\"num_attention_heads\":4",
                "\"num_attention_heads\":5") + "}")), "config.json", "hidden_size 32 is not divisible by num_attention_heads 5");
        assertUserError(() -> ModelConfig.read(folder(MINIMAL_BERT.replace("\"bert\"", "\"llama\"")
                + ",\"num_key_value_heads\":3}")), "num_attention_heads 4 is not divisible by num_key_value_heads 3");
    }

    @Test
    void toJsonRoundTripsAndKeepsUnknownFields() {
        ModelConfig c = ModelConfig.read(SharedModels.model("all-MiniLM-L6-v2"));
        JsonNode j = c.toJson();
        assertEquals("BertModel", j.get("architectures").get(0).asText());
        assertEquals(1e-12, j.get("layer_norm_eps").asDouble());
        ModelConfig again = ModelConfig.fromJson(j, "copy");
        assertEquals(c.toString().replace(c.source(), "copy"), again.toString());
        assertEquals(c.toJson(), again.toJson());

        ModelConfig minimal = ModelConfig.parse(MINIMAL_BERT + "}", "inline");
        assertEquals(2, minimal.toJson().get("type_vocab_size").asInt(), "assumed defaults become explicit");
    }

    @Test
    void writeThenReadBack() {
        ModelConfig c = ModelConfig.read(SharedModels.model("stories260K"));
        Path out = dir.resolve("merged");
        c.write(out);
        ModelConfig back = ModelConfig.read(out);
        assertEquals(c.toJson(), back.toJson());
        assertEquals(4, back.numKeyValueHeads());
    }

    @Test
    void rawIsACopy() {
        ModelConfig c = ModelConfig.parse(MINIMAL_BERT + "}", "inline");
        ((ObjectNode) c.raw()).put("hidden_size", 999);
        assertEquals(32, c.raw().get("hidden_size").asInt());
    }

    @Test
    void bertFactory() {
        ModelConfig c = ModelConfig.bert(50, 16, 1, 2, 32, 64);
        assertEquals(50, c.vocabSize());
        assertEquals(8, c.headDim());
        assertEquals(2, c.typeVocabSize());
        assertEquals(64, c.maxPositionEmbeddings());
        assertUserError(() -> ModelConfig.bert(50, 15, 1, 2, 32, 64), "not divisible");
    }
}
