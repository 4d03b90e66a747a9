package dev.dynalora.evaluation;

import dev.dynalora.data.Example;
import dev.dynalora.data.GlueTask;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TaskMetricsTest {
    private static final double EPS = 1e-12;
    private static final int[] PRED = {1, 1, 0, 0, 1};
    private static final int[] GOLD = {1, 0, 0, 1, 1};

    @Test
    void namesAndOrderPerTask() {
        assertEquals(List.of("mcc", "score"), List.copyOf(TaskMetrics.compute(GlueTask.COLA, PRED, GOLD).keySet()));
        for (GlueTask t : List.of(GlueTask.SST2, GlueTask.QNLI, GlueTask.RTE, GlueTask.WNLI, GlueTask.MNLI)) {
            assertEquals(List.of("accuracy", "score"), List.copyOf(TaskMetrics.compute(t, PRED, GOLD).keySet()));
        }
        for (GlueTask t : List.of(GlueTask.MRPC, GlueTask.QQP)) {
            assertEquals(List.of("accuracy", "f1", "score"), List.copyOf(TaskMetrics.compute(t, PRED, GOLD).keySet()));
        }
        Map<String, Double> sts = TaskMetrics.compute(GlueTask.STSB, new float[]{1, 2, 3}, new float[]{1, 3, 2});
        assertEquals(List.of("pearson", "spearman", "score"), List.copyOf(sts.keySet()));
        for (GlueTask t : GlueTask.values()) {
            assertEquals(t.primaryMetric(), TaskMetrics.primary(t));
        }
    }

    @Test
    void valuesAndScoreIsTheMean() {
        Map<String, Double> cola = TaskMetrics.compute(GlueTask.COLA, PRED, GOLD);
        assertEquals(1.0 / 6, cola.get("mcc"), EPS);
        assertEquals(1.0 / 6, cola.get("score"), EPS);
        Map<String, Double> mrpc = TaskMetrics.compute(GlueTask.MRPC, PRED, GOLD);
        assertEquals(0.6, mrpc.get("accuracy"), EPS);
        assertEquals(2.0 / 3, mrpc.get("f1"), EPS);
        assertEquals((0.6 + 2.0 / 3) / 2, mrpc.get("score"), EPS);
        assertEquals(mrpc.get("score"), mrpc.get(TaskMetrics.primary(GlueTask.MRPC)));
        // pearson 0.5 (dx=[-1,0,1], dy=[-1,1,0]: 1/2), spearman the same (already ranks).
        Map<String, Double> sts = TaskMetrics.compute(GlueTask.STSB, new float[]{1, 2, 3}, new float[]{1, 3, 2});
        assertEquals(0.5, sts.get("pearson"), EPS);
        assertEquals(0.5, sts.get("spearman"), EPS);
        assertEquals(0.5, sts.get("score"), EPS);
        assertThrows(UnsupportedOperationException.class, () -> sts.put("x", 1.0));
    }

    @Test
    void fromExamples() {
        List<Example> gold = List.of(new Example("a", null, 1, 1f, 0, 2), new Example("b", null, 0, 0f, 1, 3));
        assertEquals(0.5, TaskMetrics.compute(GlueTask.SST2, new int[]{1, 1}, gold).get("accuracy"), EPS);
        List<Example> sts = List.of(new Example("a", "b", -1, 4.5f, 0, 2), new Example("c", "d", -1, 1f, 1, 3),
                new Example("e", "f", -1, 2f, 2, 4));
        assertEquals(1.0, TaskMetrics.compute(GlueTask.STSB, new float[]{5, 0, 1}, sts).get("spearman"), EPS);
        List<Example> test = List.of(new Example("a", null, Example.NO_LABEL, Float.NaN, 0, 2));
        assertThrows(IllegalArgumentException.class, () -> TaskMetrics.compute(GlueTask.SST2, new int[]{1}, test));
    }

    @Test
    void wrongPredictionKind() {
        assertThrows(IllegalArgumentException.class, () -> TaskMetrics.compute(GlueTask.STSB, PRED, GOLD));
        assertThrows(IllegalArgumentException.class,
                () -> TaskMetrics.compute(GlueTask.RTE, new float[]{1}, new float[]{1}));
    }

    @Test
    void argmax() {
        assertArrayEquals(new int[]{2, 0, 0}, TaskMetrics.argmax(new float[]{0, 1, 3, 5, 1, 2, 1, 1, 1}, 3));
        assertThrows(IllegalArgumentException.class, () -> TaskMetrics.argmax(new float[4], 3));
        assertTrue(TaskMetrics.argmax(new float[0], 2).length == 0);
    }
}
