package dev.dynalora.cli.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.UserInputException;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Medians, ratios, the paired Dynamic LoRA overhead and MFU from two rounds of made-up result lines. */
class SpeedReportTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static ObjectNode line(double ms, double tps, double rss) {
        ObjectNode o = JSON.createObjectNode();
        o.put("ms_per_step", ms);
        o.put("tokens_per_s", tps);
        o.put("peak_rss_mb", rss);
        return o;
    }

    private static SpeedReport twoRounds() {
        SpeedSettings s = new SpeedSettings(Path.of("/m/all-MiniLM-L6-v2"), Path.of("/r/ref.py"), "python3", 32, 128, 5, 3,
                2, 2, 8, "query,value", 100);
        SpeedReport r = new SpeedReport(s, 2_000_000_000L, 6_000_000_000L);
        r.add(SpeedCase.FORWARD_DYNALORA, line(100, 1000, 900));
        r.add(SpeedCase.FORWARD_PYTORCH, line(200, 500, 600));
        r.add(SpeedCase.LORA_DYNALORA, line(300, 333, 2000));
        r.add(SpeedCase.LORA_PYTORCH, line(400, 250, 2100));
        r.add(SpeedCase.DYNAMIC_DYNALORA, line(330, 303, 2050));
        r.add(SpeedCase.FORWARD_DYNALORA, line(120, 800, 950));
        r.add(SpeedCase.FORWARD_PYTORCH, line(180, 600, 610));
        r.add(SpeedCase.LORA_DYNALORA, line(310, 320, 2010));
        r.add(SpeedCase.LORA_PYTORCH, line(390, 260, 2080));
        r.add(SpeedCase.DYNAMIC_DYNALORA, line(310, 320, 2000));
        return r;
    }

    @Test
    void figures() {
        SpeedReport r = twoRounds();
        SpeedReport.Figures f = r.figures(SpeedCase.FORWARD_DYNALORA);
        assertEquals(110, f.msPerStep(), 1e-9);
        assertEquals(900, f.tokensPerS(), 1e-9);
        assertEquals(950, f.peakRssMb(), 1e-9, "peak memory is the largest of the rounds");
        // 2 GFLOP in 0.110 s over 2 threads x 100 GFLOP/s.
        assertEquals(2e9 / 0.110 / 200e9, f.mfu(), 1e-12);
        assertEquals(900.0 / 550, r.ratio(SpeedCase.Step.FORWARD), 1e-12);
        assertEquals(326.5 / 255, r.ratio(SpeedCase.Step.LORA), 1e-12);
        // Paired per round: 330/300 - 1 = +10%, 310/310 - 1 = 0%; median +5%.
        double[] per = r.dynamicOverheadPerRound();
        assertEquals(10, per[0], 1e-9);
        assertEquals(0, per[1], 1e-9);
        assertEquals(5, r.dynamicOverheadPct(), 1e-9);
    }

    @Test
    void markdownAndJson() {
        SpeedReport r = twoRounds();
        String md = r.markdown();
        assertTrue(md.contains("| forward (inference) | dynalora | 110.0 | 900.0 | 950 | 2.00 | 9.1% |"), md);
        assertTrue(md.contains("| LoRA r=8 query,value training step | PyTorch | 395.0 | 255.0 | 2100 | 6.00 | 7.6% |"), md);
        assertTrue(md.contains("forward **1.64x**, LoRA step **1.28x**"), md);
        assertTrue(md.contains("**+5.00%** (median over rounds: +10.00%, +0.00%;"), md);
        ObjectNode j = r.toJson();
        assertEquals(1.636, j.get("forward").get("ratio_tokens_per_s").asDouble(), 1e-9);
        assertEquals(5.0, j.get("dynamic_step").get("overhead_vs_lora_pct").asDouble(), 1e-9);
        assertEquals(6_000_000_000L, j.get("flops_per_step").get("dynamic_step").asLong());
        assertEquals(2100, j.get("lora_step").get("pytorch").get("peak_rss_mb").asDouble(), 1e-9);
        assertEquals(10, j.get("runs").size(), "every result line is kept");
    }

    @Test
    void targetsTheReferenceCannotTakeAreRefused() {
        var e = assertThrows(UserInputException.class, () -> new SpeedSettings(Path.of("m"), Path.of("r"), "python3", 32, 128, 5,
                3, 1, 2, 8, ".*attention.*", 105));
        assertTrue(e.getMessage().contains("query, key, value, dense"), e.getMessage());
    }
}
