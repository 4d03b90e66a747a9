package dev.dynalora.formats;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The reader on the real checkpoints in the shared folder (F32 MiniLM, F16 bge-small, F32 Llama). */
class SafetensorsRealModelTest {

    @Test
    void miniLmNamesAndShapes() {
        var dir = SharedModels.model("all-MiniLM-L6-v2");
        ModelConfig c = ModelConfig.read(dir);
        try (SafetensorsReader r = SafetensorsReader.open(dir.resolve("model.safetensors"))) {
            // 5 embedding tensors + 16 per layer x 6 layers; this export has no pooler.
            assertEquals(101, r.names().size());
            assertEquals("pt", r.metadata().get("format"));
            int h = c.hiddenSize();
            assertArrayEquals(new int[] {c.vocabSize(), h}, r.shape("embeddings.word_embeddings.weight"));
            assertArrayEquals(new int[] {c.maxPositionEmbeddings(), h}, r.shape("embeddings.position_embeddings.weight"));
            assertArrayEquals(new int[] {c.typeVocabSize(), h}, r.shape("embeddings.token_type_embeddings.weight"));
            for (int l = 0; l < c.numHiddenLayers(); l++) {
                String p = "encoder.layer." + l + ".";
                assertArrayEquals(new int[] {h, h}, r.shape(p + "attention.self.query.weight"));
                assertArrayEquals(new int[] {h}, r.shape(p + "attention.self.value.bias"));
                assertArrayEquals(new int[] {c.intermediateSize(), h}, r.shape(p + "intermediate.dense.weight"));
                assertArrayEquals(new int[] {h, c.intermediateSize()}, r.shape(p + "output.dense.weight"));
            }
            for (String n : r.names()) {
                assertEquals("F32", r.dtype(n), n);
            }
            // Values checked against a direct reading of the file with Python's struct module.
            float[] ln = r.readFloat("embeddings.LayerNorm.weight");
            assertEquals(0.5989283323287964f, ln[0]);
            assertEquals(0.6244606375694275f, ln[3]);
            float[] emb = r.readFloat("embeddings.word_embeddings.weight");
            assertEquals((long) c.vocabSize() * h, emb.length);
            assertAllFinite(emb);
        }
    }

    @Test
    void bgeSmallIsFloat16AndConvertsToPlausibleFloats() {
        var dir = SharedModels.model("bge-small-en-v1.5");
        ModelConfig c = ModelConfig.read(dir);
        try (SafetensorsReader r = SafetensorsReader.open(dir.resolve("model.safetensors"))) {
            assertEquals(5 + 16 * c.numHiddenLayers(), r.names().size());
            assertEquals("F16", r.dtype("embeddings.word_embeddings.weight"));
            assertArrayEquals(new int[] {c.vocabSize(), c.hiddenSize()}, r.shape("embeddings.word_embeddings.weight"));
            float[] ln = r.readFloat("embeddings.LayerNorm.weight");
            assertEquals(c.hiddenSize(), ln.length);
            // Exact half values, checked with Python's struct 'e' format.
            assertEquals(0.5849609375f, ln[0]);
            assertEquals(0.60009765625f, ln[7]);
            float[] emb = r.readFloat("embeddings.word_embeddings.weight");
            assertAllFinite(emb);
            double sumSq = 0;
            for (float v : emb) {
                sumSq += v * v;
            }
            double rms = Math.sqrt(sumSq / emb.length);
            assertTrue(rms > 0.005 && rms < 1, "embedding RMS " + rms + " should look like trained weights");
            float[] q = r.readFloat("encoder.layer.11.attention.self.query.weight");
            assertEquals(c.hiddenSize() * c.hiddenSize(), q.length);
            assertAllFinite(q);
        }
    }

    @Test
    void llamaCheckpointNamesAndShapes() {
        var dir = SharedModels.model("stories260K");
        ModelConfig c = ModelConfig.read(dir);
        try (SafetensorsReader r = SafetensorsReader.open(dir.resolve("model.safetensors"))) {
            assertArrayEquals(new int[] {c.vocabSize(), c.hiddenSize()}, r.shape("model.embed_tokens.weight"));
            int kv = c.numKeyValueHeads() * c.headDim();
            assertArrayEquals(new int[] {kv, c.hiddenSize()}, r.shape("model.layers.0.self_attn.k_proj.weight"));
            assertArrayEquals(new int[] {c.intermediateSize(), c.hiddenSize()},
                    r.shape("model.layers.4.mlp.gate_proj.weight"));
            assertEquals(-0.29474878311157227f, r.readFloat("model.embed_tokens.weight")[0]);
        }
    }

    private static void assertAllFinite(float[] a) {
        for (int i = 0; i < a.length; i++) {
            if (!Float.isFinite(a[i])) {
                throw new AssertionError("non-finite value " + a[i] + " at " + i);
            }
        }
    }
}
