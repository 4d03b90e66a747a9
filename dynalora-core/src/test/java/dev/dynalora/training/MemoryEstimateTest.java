package dev.dynalora.training;

import dev.dynalora.Setting;
import dev.dynalora.UserInputException;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.models.bert.SequenceClassifier;
import dev.dynalora.models.TinyBert;
import dev.dynalora.tensor.Param;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Path;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The memory guard's estimate against what the code really allocates: the float arrays of a real model and of
 * BertActivations (found by reflection, so a new buffer there that the estimate misses fails here), and, more
 * loosely, the heap growth measured around one allocation of the activations.
 */
class MemoryEstimateTest {
    static final long GIB = 1L << 30;

    /** A tiny model in which activations still dominate: 3 layers, hidden 32, 4 heads, ffn 64. */
    static ModelConfig tiny(Path dir) throws Exception {
        return TinyBert.config(dir, 3, 32, 4, 64, 0.0);
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void estimateMatchesTheArraysTheModelAndActivationsAllocate(boolean training, @TempDir Path dir) throws Exception {
        ModelConfig c = tiny(dir);
        int batch = 6;
        int seqLen = 16;
        SequenceClassifier model = TinyBert.classifier(c, MemoryEstimate.HEAD_LABELS, 1);
        long weights = 0;
        for (Param p : model.allParams()) {
            weights += p.value().size();
        }
        assertEquals(weights, MemoryEstimate.parameterCount(c), "weights of the model");

        long activations = floatsReachableFrom(newActivations(c, batch, seqLen, training));
        assertEquals(activations, MemoryEstimate.activationFloats(c, batch, seqLen, training), "activation floats");

        long trainable = 5_000;
        long actual = 4 * (weights + 3 * trainable + activations);
        long estimate = MemoryEstimate.bytes(c, batch, seqLen, trainable, training);
        assertTrue(Math.abs(estimate - actual) <= 0.25 * actual, "estimate " + estimate + " vs allocated " + actual);
    }

    @Test
    void estimateTracksMeasuredHeapGrowth(@TempDir Path dir) throws Exception {
        // A shape whose buffers are big (~190 MB) next to the noise of a heap measurement.
        ModelConfig c = TinyBert.config(dir, 4, 256, 4, 1024, 0.0);
        int batch = 128;
        int seqLen = 16; // max_position_embeddings of TinyBert
        long expected = 4 * MemoryEstimate.activationFloats(c, batch, seqLen, true);
        assertTrue(expected > 40_000_000L, "test shape too small: " + expected);
        long before = usedAfterGc();
        Object acts = newActivations(c, batch, seqLen, true);
        long after = usedAfterGc();
        assertTrue(acts != null);
        long grown = after - before;
        assertTrue(Math.abs(grown - expected) <= 0.25 * expected,
                "measured growth " + grown + " bytes vs estimated " + expected);
    }

    @Test
    void checkStopsAHugeBatchWithTheEstimateAndWhatToChange() {
        ModelConfig base = ModelConfig.bert(30522, 768, 12, 12, 3072, 512); // BERT-base
        long trainable = 300_000;
        long heap = 6 * GIB;

        long small = MemoryEstimate.bytes(base, 16, 128, trainable, true);
        assertTrue(small < 3 * GIB, "BERT-base at batch 16 x 128 is ~2 GiB, got " + small);
        assertDoesNotThrow(() -> MemoryEstimate.check(small, heap, 16, 128));
        assertDoesNotThrow(() -> MemoryEstimate.check(small, heap));
        assertDoesNotThrow(() -> MemoryEstimate.check(small, Long.MAX_VALUE, 16, 128)); // no -Xmx

        long huge = MemoryEstimate.bytes(base, 1024, 512, trainable, true);
        assertTrue(huge > 100 * GIB, "got " + huge);
        UserInputException e = assertThrows(UserInputException.class, () -> MemoryEstimate.check(huge, heap, 1024, 512));
        String m = e.getMessage();
        assertFalse(m.contains("\n"), m);
        for (String part : new String[] {"training needs about ", " GiB at batch=1024 maxLen=512",
                "but the heap is 6.0 GiB", "smaller batch or maxLen", "raise the heap with -Xmx"}) {
            assertTrue(m.contains(part), "message should contain \"" + part + "\": " + m);
        }
        assertTrue(m.endsWith("-Xmx" + MemoryEstimate.suggestedHeapGiB(huge) + "g"), m);
        assertEquals(List.of(Setting.BATCH, Setting.MAX_LEN, Setting.BATCH, Setting.MAX_LEN, Setting.JAVA_OPTIONS),
                e.userMessage().settings(), "the settings a front end names in its own terms");
        UserInputException e2 = assertThrows(UserInputException.class, () -> MemoryEstimate.check(huge, heap));
        assertTrue(e2.getMessage().contains("smaller batch or maxLen"), e2.getMessage());

        // The threshold is 90% of the heap.
        assertDoesNotThrow(() -> MemoryEstimate.check((long) (0.9 * heap), heap, 1, 1));
        assertThrows(UserInputException.class, () -> MemoryEstimate.check((long) (0.9 * heap) + 1, heap, 1, 1));
    }

    @Test
    void estimateGrowsWithBatchAndQuadraticallyInLengthThroughAttention() {
        ModelConfig base = ModelConfig.bert(30522, 768, 12, 12, 3072, 512);
        long weightsOnly = 4 * MemoryEstimate.parameterCount(base);
        assertTrue(Math.abs(weightsOnly - 4 * 109_484_547L) < 4 * 10_000L, "BERT-base has ~109.5M weights: " + weightsOnly);
        long a = MemoryEstimate.bytes(base, 8, 128, 0, true) - weightsOnly;
        long b = MemoryEstimate.bytes(base, 16, 128, 0, true) - weightsOnly;
        assertEquals(2 * a, b);
        assertTrue(MemoryEstimate.bytes(base, 8, 128, 0, false) < MemoryEstimate.bytes(base, 8, 128, 0, true));
        // No int overflow for shapes far past 2^31 floats.
        assertTrue(MemoryEstimate.bytes(base, 4096, 512, 0, true) > 0);
    }

    private static Object newActivations(ModelConfig c, int batch, int seqLen, boolean training) throws Exception {
        Class<?> k = Class.forName("dev.dynalora.models.bert.BertActivations");
        Constructor<?> ctor = k.getDeclaredConstructor(ModelConfig.class, int.class, int.class, boolean.class);
        ctor.setAccessible(true);
        return ctor.newInstance(c, batch, seqLen, training);
    }

    /** Floats in every float[] reachable through the fields of o (each array counted once, by identity). */
    private static long floatsReachableFrom(Object o) throws IllegalAccessException {
        Set<Object> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        return floats(o, seen);
    }

    private static long floats(Object o, Set<Object> seen) throws IllegalAccessException {
        if (o == null || !seen.add(o)) {
            return 0;
        }
        if (o instanceof float[] f) {
            return f.length;
        }
        if (o instanceof Object[] arr) {
            long n = 0;
            for (Object x : arr) {
                n += floats(x, seen);
            }
            return n;
        }
        if (!o.getClass().getName().startsWith("dev.dynalora.models.bert.BertActivations")) {
            return 0;
        }
        long n = 0;
        for (Field f : o.getClass().getDeclaredFields()) {
            if (Modifier.isStatic(f.getModifiers()) || f.getType().isPrimitive()) {
                continue;
            }
            f.setAccessible(true);
            n += floats(f.get(o), seen);
        }
        return n;
    }

    private static long usedAfterGc() throws InterruptedException {
        Runtime rt = Runtime.getRuntime();
        long used = Long.MAX_VALUE;
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(50);
            used = Math.min(used, rt.totalMemory() - rt.freeMemory());
        }
        return used;
    }
}
