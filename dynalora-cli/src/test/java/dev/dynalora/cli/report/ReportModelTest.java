package dev.dynalora.cli.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pieces of the report that need no run folder: labels, layers, JSON embedding, escaping. */
class ReportModelTest {

    @Test
    void moduleLabelsAreShortAndUnique() {
        assertEquals(List.of("L0 query", "L11 ffn.out", "L3 attn.out", "L2 ffn.in", "classifier"),
                ReportModel.moduleLabels(List.of("encoder.layer.0.attention.self.query", "encoder.layer.11.output.dense",
                        "encoder.layer.3.attention.output.dense", "encoder.layer.2.intermediate.dense", "classifier")));
        // Two paths with the same short label keep their full names.
        assertEquals(List.of("a.layer.0.attention.self.query", "b.layer.0.attention.self.query"),
                ReportModel.moduleLabels(List.of("a.layer.0.attention.self.query", "b.layer.0.attention.self.query")));
    }

    @Test
    void layerIndexComesFromThePath() {
        assertEquals("7", ReportModel.layerOf("encoder.layer.7.attention.self.value"));
        assertEquals("2", ReportModel.layerOf("model.layers.2.mlp"));
        assertNull(ReportModel.layerOf("pooler.dense"));
        assertNull(ReportModel.layerOf("player.3x"));
    }

    @Test
    void embeddedJsonCannotCloseItsScriptElement() throws Exception {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        String nasty = "</script><!-- & </SCRIPT >";
        n.put(nasty, nasty);
        String json = HtmlReport.embeddedJson(n);
        assertFalse(json.contains("<") || json.contains(">") || json.contains("&"), json);
        JsonNode back = new ObjectMapper().readTree(json);
        assertEquals(nasty, back.get(nasty).asText());
    }

    @Test
    void htmlEscapingAndDurations() {
        assertEquals("a&amp;b&lt;c&gt;&quot;d&#39;", HtmlReport.esc("a&b<c>\"d'"));
        assertEquals("28.0 s", HtmlReport.duration(28.04));
        assertEquals("2 min 05 s", HtmlReport.duration(125));
        assertEquals("1 h 01 min", HtmlReport.duration(3700));
    }

    @Test
    void theLibraryIsOnTheClassPath() {
        String lib = EChartsLibrary.script();
        assertTrue(lib.length() > 500_000);
        assertTrue(lib.contains("echarts"));
    }
}
