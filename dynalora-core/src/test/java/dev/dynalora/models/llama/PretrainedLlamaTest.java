package dev.dynalora.models.llama;

import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.formats.Float16;
import dev.dynalora.formats.SafetensorsWriter;
import dev.dynalora.kernels.ReferenceKernels;
import dev.dynalora.tensor.Param;
import dev.dynalora.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.UnaryOperator;

import static dev.dynalora.formats.UserErrors.assertUserError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/** Loading a Llama folder: F32, F16 and BF16 checkpoints, tied and separate heads, and what a broken folder says. */
class PretrainedLlamaTest {
    @TempDir
    Path dir;

    static final int[] IDS = {1, 5, 7, 9, 2, 11, 28};

    static float[] logits(LlamaForCausalLM m) {
        int[] mask = new int[IDS.length];
        Arrays.fill(mask, 1);
        return m.forward(new ReferenceKernels(), IDS, new TokenBatch(1, IDS.length, mask, false, 0, 0), false).clone();
    }

    /** A tiny random model's tensors by checkpoint name, values passed through round (a dtype's rounding). */
    static Map<String, Tensor> tensors(LlamaConfig c, UnaryOperator<Float> round) {
        Map<String, Param> record = TinyLlama.newRecord();
        new LlamaForCausalLM(c, TinyLlama.weights(3, 0.2, record));
        Map<String, Tensor> t = new LinkedHashMap<>();
        for (Map.Entry<String, Param> e : record.entrySet()) {
            float[] d = e.getValue().data().clone();
            for (int i = 0; i < d.length; i++) {
                d[i] = round.apply(d[i]);
            }
            t.put(e.getKey(), new Tensor(e.getValue().value().shape(), d));
        }
        return t;
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void f32CheckpointGivesTheModelItWasWrittenFrom(boolean tied) throws IOException {
        LlamaConfig c = TinyLlama.config(dir, tied);
        Map<String, Tensor> t = tensors(c, x -> x);
        assertEquals(!tied, t.containsKey("lm_head.weight"));
        SafetensorsWriter.write(dir.resolve("model.safetensors"), t);
        LlamaForCausalLM loaded = PretrainedLlama.load(dir);
        assertArrayEquals(logits(new LlamaForCausalLM(c, TinyLlama.weights(3, 0.2, null))), logits(loaded));
        assertEquals(tied, loaded.lmHead().weight() == loaded.model().embedTokens());
    }

    /** A 16-bit checkpoint loads as the F32 checkpoint of the same (rounded) values does, bit for bit. */
    @ParameterizedTest
    @ValueSource(strings = {"BF16", "F16"})
    void sixteenBitCheckpointsLoad(String dtype) throws IOException {
        LlamaConfig c = TinyLlama.config(dir, false);
        boolean bf = dtype.equals("BF16");
        Map<String, Tensor> rounded = tensors(c, x -> bf ? Float16.bf16ToFloat(Float16.bf16FromFloat(x))
                : Float16.toFloat(Float16.fromFloat(x)));
        SafetensorsWriter.write(dir.resolve("model.safetensors"), rounded);
        float[] expected = logits(PretrainedLlama.load(dir));
        write16(dir.resolve("model.safetensors"), rounded, bf);
        float[] actual = logits(PretrainedLlama.load(dir));
        assertArrayEquals(expected, actual);
        // and the rounding really happened (the 16-bit model differs from the float one)
        assertNotEquals(Arrays.toString(logits(new LlamaForCausalLM(c, TinyLlama.weights(3, 0.2, null)))), Arrays.toString(actual));
    }

    /** A minimal safetensors writer for F16 / BF16 (the project's writer writes F32 only). */
    static void write16(Path file, Map<String, Tensor> tensors, boolean bf16) throws IOException {
        StringBuilder header = new StringBuilder("{");
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            float[] d = e.getValue().data();
            ByteBuffer b = ByteBuffer.allocate(2 * d.length).order(ByteOrder.LITTLE_ENDIAN);
            for (float v : d) {
                b.putShort(bf16 ? Float16.bf16FromFloat(v) : Float16.fromFloat(v));
            }
            if (header.length() > 1) {
                header.append(',');
            }
            header.append('"').append(e.getKey()).append("\":{\"dtype\":\"").append(bf16 ? "BF16" : "F16")
                    .append("\",\"shape\":").append(Arrays.toString(e.getValue().shape()).replace(" ", ""))
                    .append(",\"data_offsets\":[").append(data.size()).append(',').append(data.size() + 2 * d.length).append("]}");
            data.write(b.array());
        }
        byte[] h = header.append('}').toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length);
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        all.write(len.array());
        all.write(h);
        all.write(data.toByteArray());
        Files.write(file, all.toByteArray());
    }

    @Test
    void brokenFoldersFailWithOneLine() throws IOException {
        LlamaConfig c = TinyLlama.config(dir, false);
        assertUserError(() -> PretrainedLlama.load(dir), "no model.safetensors");
        Map<String, Tensor> t = tensors(c, x -> x);
        t.remove("lm_head.weight");
        SafetensorsWriter.write(dir.resolve("model.safetensors"), t);
        assertUserError(() -> PretrainedLlama.load(dir), "lacks tensor 'lm_head.weight'");
        t = tensors(c, x -> x);
        t.put("model.layers.1.self_attn.k_proj.weight", Tensor.zeros(24, 24));
        SafetensorsWriter.write(dir.resolve("model.safetensors"), t);
        assertUserError(() -> PretrainedLlama.load(dir), "model.layers.1.self_attn.k_proj.weight", "[24, 24]", "[12, 24]");
    }
}
