package dev.dynalora.data;

import dev.dynalora.UserInputException;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GlueTaskTest {
    @Test
    void parsesCliAndFolderNamesIgnoringCase() {
        assertEquals(GlueTask.SST2, GlueTask.parse("sst2"));
        assertEquals(GlueTask.SST2, GlueTask.parse("SST-2"));
        assertEquals(GlueTask.SST2, GlueTask.parse(" Sst_2 "));
        assertEquals(GlueTask.STSB, GlueTask.parse("STS-B"));
        assertEquals(GlueTask.COLA, GlueTask.parse("CoLA"));
        assertEquals(GlueTask.MNLI, GlueTask.parse("MNLI"));
        for (GlueTask t : GlueTask.values()) {
            assertEquals(t, GlueTask.parse(t.id()));
            assertEquals(t, GlueTask.parse(t.folder()));
        }
    }

    @Test
    void unknownTaskListsValidNames() {
        UserInputException e = assertThrows(UserInputException.class, () -> GlueTask.parse("sst3"));
        assertTrue(e.getMessage().contains("sst3"), e.getMessage());
        assertTrue(e.getMessage().contains("cola, sst2, mrpc, stsb, qnli, qqp, mnli, rte, wnli"), e.getMessage());
        assertThrows(UserInputException.class, () -> GlueTask.parse(null));
    }

    @Test
    void labelsAndHeads() {
        assertEquals(List.of("contradiction", "entailment", "neutral"), GlueTask.MNLI.labelNames());
        assertEquals(3, GlueTask.MNLI.numLabels());
        assertEquals(List.of("entailment", "not_entailment"), GlueTask.RTE.labelNames());
        assertEquals(List.of("entailment", "not_entailment"), GlueTask.QNLI.labelNames());
        assertTrue(GlueTask.STSB.isRegression());
        assertEquals(1, GlueTask.STSB.numLabels());
        for (GlueTask t : List.of(GlueTask.COLA, GlueTask.SST2, GlueTask.MRPC, GlueTask.QQP, GlueTask.WNLI)) {
            assertEquals(List.of("0", "1"), t.labelNames(), t.id());
            assertFalse(t.isRegression());
            assertEquals(2, t.numLabels());
        }
        assertEquals(1, GlueTask.RTE.labelIndex("not_entailment"));
        assertEquals(-1, GlueTask.RTE.labelIndex("neutral"));
    }

    @Test
    void metricsAndPrimary() {
        assertEquals(List.of("mcc"), GlueTask.COLA.metricNames());
        assertEquals(List.of("accuracy", "f1"), GlueTask.MRPC.metricNames());
        assertEquals(List.of("accuracy", "f1"), GlueTask.QQP.metricNames());
        assertEquals(List.of("pearson", "spearman"), GlueTask.STSB.metricNames());
        assertEquals("mcc", GlueTask.COLA.primaryMetric());
        assertEquals("accuracy", GlueTask.RTE.primaryMetric());
        assertEquals("score", GlueTask.MRPC.primaryMetric());
        assertEquals("score", GlueTask.STSB.primaryMetric());
    }

    @Test
    void splits() {
        assertEquals(List.of("train", "dev", "test"), GlueTask.RTE.splits());
        assertEquals(List.of("dev"), GlueTask.RTE.devSplits());
        assertEquals(List.of("dev_matched", "dev_mismatched"), GlueTask.MNLI.devSplits());
        assertEquals(List.of("test_matched", "test_mismatched"), GlueTask.MNLI.testSplits());
        assertEquals("dev_mismatched.tsv", GlueTask.MNLI.fileName("dev_mismatched"));
        // "dev" is ambiguous for MNLI: an error naming the real choices, not a silent pick.
        UserInputException e = assertThrows(UserInputException.class, () -> GlueTask.MNLI.layout("dev"));
        assertTrue(e.getMessage().contains("dev_matched, dev_mismatched"), e.getMessage());
        assertThrows(UserInputException.class, () -> GlueTask.COLA.layout("validation"));
    }

    @Test
    void layoutsAreConsistent() {
        for (GlueTask t : GlueTask.values()) {
            for (String split : t.splits()) {
                GlueTask.Layout l = t.layout(split);
                assertTrue(l.textA() >= 0 && l.textA() < l.columns(), t + " " + split);
                assertTrue(l.textB() < l.columns(), t + " " + split);
                assertTrue(l.label() < l.columns(), t + " " + split);
                assertEquals(split.startsWith("test"), !l.labelled(), t + " " + split);
                // Single-sentence tasks are exactly CoLA and SST-2.
                assertEquals(t == GlueTask.COLA || t == GlueTask.SST2, l.textB() < 0, t + " " + split);
            }
        }
    }
}
