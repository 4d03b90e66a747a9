package dev.dynalora.models.llama;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static dev.dynalora.formats.UserErrors.assertUserError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

class LlamaConfigTest {
    @TempDir
    Path dir;

    private LlamaConfig read(String extra) throws IOException {
        return TinyLlama.config(dir, 2, 24, 4, 2, 13, 29, false, extra);
    }

    @Test
    void readsSizesAndTokenIds() throws IOException {
        LlamaConfig c = read("");
        assertEquals(24, c.hiddenSize());
        assertEquals(4, c.numAttentionHeads());
        assertEquals(2, c.numKeyValueHeads());
        assertEquals(6, c.headDim());
        assertEquals(12, c.kvDim());
        assertEquals(13, c.intermediateSize());
        assertEquals(1e-5f, c.rmsNormEps());
        assertEquals(10000.0, c.ropeTheta());
        assertEquals(16, c.maxPositionEmbeddings());
        assertFalse(c.tieWordEmbeddings());
        assertEquals(1, c.bosTokenId());
        assertArrayEquals(new int[] {2}, c.eosTokenIds());
    }

    @Test
    void defaultsFollowTransformers() throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), """
                {"model_type": "llama", "vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 1,
                 "num_attention_heads": 4, "intermediate_size": 64}""");
        LlamaConfig c = LlamaConfig.read(dir);
        assertEquals(4, c.numKeyValueHeads(), "num_key_value_heads defaults to the heads");
        assertEquals(10000.0, c.ropeTheta());
        assertEquals(1e-6f, c.rmsNormEps());
        assertEquals(2048, c.maxPositionEmbeddings());
        assertEquals(1, c.bosTokenId());
        assertArrayEquals(new int[] {2}, c.eosTokenIds());
    }

    /** Rewrites one field of the tiny config in place and reads it again. */
    private LlamaConfig replaced(String from, String to) throws IOException {
        Path f = dir.resolve("config.json");
        Files.writeString(f, Files.readString(f).replace(from, to));
        return LlamaConfig.read(dir);
    }

    @Test
    void eosMayBeAListOrNullAndRopeScalingNullIsPlainRope() throws IOException {
        read(", \"rope_scaling\": null");
        assertArrayEquals(new int[] {2, 7}, replaced("\"eos_token_id\": 2", "\"eos_token_id\": [2, 7]").eosTokenIds());
        LlamaConfig c = replaced("\"eos_token_id\": [2, 7]", "\"eos_token_id\": null");
        assertArrayEquals(new int[0], c.eosTokenIds());
        assertEquals(-1, replaced("\"bos_token_id\": 1", "\"bos_token_id\": null").bosTokenId());
    }

    @Test
    void refusesWhatTheModelDoesNotImplement() throws IOException {
        assertUserError(() -> read(", \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}"),
                "config.json", "\"rope_scaling\" is not supported", "linear");
        assertUserError(() -> read(", \"attention_bias\": true"), "\"attention_bias\": true is not supported");
        assertUserError(() -> read(", \"mlp_bias\": true"), "\"mlp_bias\"");
        assertUserError(() -> read(", \"attention_dropout\": 0.1"), "\"attention_dropout\"");
        assertUserError(() -> read(", \"head_dim\": 8"), "\"head_dim\" 8");
        assertUserError(() -> TinyLlama.config(dir, 1, 24, 8, 2, 13, 29, false, ""), "head dimension 3", "even");
        read("");
        assertUserError(() -> replaced("\"eos_token_id\": 2", "\"eos_token_id\": 29"), "\"eos_token_id\" must be a token id in [0, 29)");
        read("");
        assertUserError(() -> replaced("\"bos_token_id\": 1", "\"bos_token_id\": \"<s>\""), "\"bos_token_id\"");
        read("");
        assertUserError(() -> replaced("\"silu\"", "\"gelu\""), "hidden_act 'gelu'");
    }

    @Test
    void refusesABertConfig() throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), """
                {"model_type": "bert", "vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 1,
                 "num_attention_heads": 4, "intermediate_size": 64}""");
        assertUserError(() -> LlamaConfig.read(dir), "config.json", "model_type 'bert' is not a Llama model");
    }
}
