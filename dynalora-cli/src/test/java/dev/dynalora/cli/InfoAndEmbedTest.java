package dev.dynalora.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InfoAndEmbedTest {

    @Test
    void infoPrintsArchitectureAndParameterCount() {
        CliRunner.Result r = CliRunner.run("info", "--model", CliRunner.miniLm().toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("model_type   bert"), r.out());
        assertTrue(r.out().contains("layers       6"), r.out());
        assertTrue(r.out().contains("hidden       384"), r.out());
        // 22.57M parameters (no pooler), per shared/README.md
        assertTrue(r.out().matches("(?s).*parameters   22,5\\d\\d,\\d\\d\\d.*"), r.out());
    }

    @Test
    void embedWritesContractFields(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("in.txt");
        Files.writeString(in, "Hello world!\nA man plays guitar.\tSomeone plays music.\n", StandardCharsets.UTF_8);
        CliRunner.Result r = CliRunner.run("embed", "--model", CliRunner.miniLm().toString(), "--input", in.toString(),
                "--normalize", "--threads", "2");
        assertEquals(0, r.exit(), r.err());
        List<String> lines = r.out().lines().toList();
        assertEquals(2, lines.size());
        ObjectMapper om = new ObjectMapper();
        JsonNode first = om.readTree(lines.get(0));
        assertEquals("[101,7592,2088,999,102]", first.get("input_ids").toString());
        assertEquals("[0,0,0,0,0]", first.get("token_type_ids").toString());
        assertEquals(384, first.get("embedding").size());
        double norm = 0;
        for (JsonNode v : first.get("embedding")) {
            norm += v.asDouble() * v.asDouble();
        }
        assertEquals(1.0, Math.sqrt(norm), 1e-5);
        JsonNode pair = om.readTree(lines.get(1));
        boolean hasSecondSegment = false;
        for (JsonNode t : pair.get("token_type_ids")) {
            hasSecondSegment |= t.asInt() == 1;
        }
        assertTrue(hasSecondSegment, "pair should have token type 1: " + pair.get("token_type_ids"));
    }

    @Test
    void embeddingIsIndependentOfBatchPadding(@TempDir Path dir) throws Exception {
        // The same sentence embedded alone and next to a much longer one (so it gets padded) must agree:
        // this exercises the attention padding mask end to end.
        Path alone = dir.resolve("alone.txt");
        Path padded = dir.resolve("padded.txt");
        Files.writeString(alone, "Short one.\n");
        Files.writeString(padded, "Short one.\nThis is a considerably longer sentence that forces padding of the first one.\n");
        ObjectMapper om = new ObjectMapper();
        JsonNode a = om.readTree(CliRunner.run("embed", "--model", CliRunner.miniLm().toString(), "--input", alone.toString()).out().lines().findFirst().orElseThrow());
        JsonNode b = om.readTree(CliRunner.run("embed", "--model", CliRunner.miniLm().toString(), "--input", padded.toString()).out().lines().findFirst().orElseThrow());
        for (int i = 0; i < 384; i++) {
            assertEquals(a.get("embedding").get(i).asDouble(), b.get("embedding").get(i).asDouble(), 1e-5);
        }
    }
}
