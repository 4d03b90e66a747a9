package dev.dynalora.models;

import dev.dynalora.models.bert.BertEncoder;
import dev.dynalora.models.bert.PretrainedBert;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.dynalora.SharedData;
import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.data.PaddedBatch;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.tokenize.Encoding;
import dev.dynalora.tokenize.TextTokenizer;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Parity with an independent implementation: ONNX Runtime running the original ONNX export of
 * all-MiniLM-L6-v2 (shipped at the root of langchain4j's embeddings jar) against our forward pass over the
 * Hugging Face folder in ../shared, on a padded batch that includes a sentence pair.
 */
class BertOnnxParityTest {

    @Test
    void lastHiddenStateMatchesOnnxRuntime() throws Exception {
        Path dir = SharedData.model("all-MiniLM-L6-v2");
        BertEncoder encoder = PretrainedBert.loadEncoder(dir);
        List<int[]> ids = new ArrayList<>();
        List<int[]> types = new ArrayList<>();
        try (TextTokenizer tok = TextTokenizer.load(dir, 128)) {
            Encoding a = tok.encode("The quick brown fox jumps over the lazy dog.");
            Encoding b = tok.encodePair("A man is playing a guitar.", "Someone plays an instrument on stage tonight.");
            Encoding c = tok.encode("Short.");
            for (Encoding e : List.of(a, b, c)) {
                ids.add(e.ids());
                types.add(e.typeIds());
            }
            // The pair really has two segments.
            assertTrue(java.util.Arrays.stream(b.typeIds()).anyMatch(t -> t == 1));
        }
        PaddedBatch batch = PaddedBatch.of(ids, types, 0);
        int bsz = batch.batch();
        int t = batch.seqLen();
        int h = encoder.config().hiddenSize();

        float[] ours;
        try (CpuKernels k = new CpuKernels(2)) {
            TokenBatch tb = new TokenBatch(bsz, t, batch.attentionMask(), false, 0, 0);
            ours = encoder.forward(k, batch.ids(), batch.typeIds(), tb, false).clone();
        }

        byte[] onnx;
        try (InputStream in = getClass().getResourceAsStream("/all-minilm-l6-v2.onnx")) {
            assertNotNull(in, "all-minilm-l6-v2.onnx is not on the test classpath");
            onnx = in.readAllBytes();
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        float[][][] theirs;
        try (OrtSession s = env.createSession(onnx, new OrtSession.SessionOptions())) {
            long[] shape = {bsz, t};
            try (OnnxTensor idsT = OnnxTensor.createTensor(env, LongBuffer.wrap(toLong(batch.ids())), shape);
                 OnnxTensor maskT = OnnxTensor.createTensor(env, LongBuffer.wrap(toLong(batch.attentionMask())), shape);
                 OnnxTensor typeT = OnnxTensor.createTensor(env, LongBuffer.wrap(toLong(batch.typeIds())), shape)) {
                Map<String, OnnxTensor> inputs = new java.util.HashMap<>();
                for (String name : s.getInputNames()) {
                    inputs.put(name, name.contains("mask") ? maskT : name.contains("type") ? typeT : idsT);
                }
                try (OrtSession.Result r = s.run(inputs)) {
                    theirs = (float[][][]) r.get(0).getValue();
                }
            }
        }
        assertEquals(bsz, theirs.length);
        assertEquals(t, theirs[0].length);
        assertEquals(h, theirs[0][0].length);
        double maxDiff = 0;
        for (int e = 0; e < bsz; e++) {
            for (int s = 0; s < t; s++) {
                if (batch.attentionMask()[e * t + s] == 0) {
                    continue; // padded positions are not meaningful outputs in either implementation
                }
                for (int j = 0; j < h; j++) {
                    maxDiff = Math.max(maxDiff, Math.abs(ours[(e * t + s) * h + j] - theirs[e][s][j]));
                }
            }
        }
        assertTrue(maxDiff < 1e-4, "max abs difference from ONNX Runtime " + maxDiff);
    }

    @Test
    void tokenIdsAreTheTokenizersLibrarys() throws Exception {
        Path dir = SharedData.model("all-MiniLM-L6-v2");
        try (TextTokenizer tok = TextTokenizer.load(dir, 128)) {
            assertArrayEquals(new int[] {101, 7592, 2088, 999, 102}, tok.encode("Hello world!").ids());
        }
    }

    private static long[] toLong(int[] a) {
        long[] l = new long[a.length];
        for (int i = 0; i < a.length; i++) {
            l[i] = a[i];
        }
        return l;
    }
}
