package dev.dynalora.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

import static dev.dynalora.cli.BadInputTest.assertUserError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * dynalora generate and bench generate end to end on stories260K (fast): the output fields, --prompt streaming,
 * sampling and stop flags, and one-line refusals of bad input. Skipped when ../shared is not there.
 */
class GenerateCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String[] PROMPTS = {"Once upon a time", "The dog saw a", "Lily and Tom"};

    @TempDir
    static Path dir;
    static Path model;
    static Path prompts;

    @BeforeAll
    static void setUp() throws IOException {
        Path shared;
        try {
            shared = CliRunner.shared();
        } catch (IllegalStateException e) {
            assumeTrue(false, "no ../shared folder");
            return;
        }
        model = shared.resolve("models/stories260K");
        assumeTrue(Files.isDirectory(model), "no stories260K in ../shared");
        prompts = dir.resolve("prompts.jsonl");
        StringBuilder sb = new StringBuilder();
        for (String p : PROMPTS) {
            sb.append(JSON.writeValueAsString(JSON.createObjectNode().put("prompt", p).put("id", p.length()))).append('\n');
        }
        sb.append("\n"); // a blank line is skipped
        Files.writeString(prompts, sb.toString());
    }

    static CliRunner.Result generate(String... more) {
        List<String> a = new ArrayList<>(List.of("generate", "--model", model.toString(), "--threads", "2"));
        a.addAll(List.of(more));
        return CliRunner.run(a.toArray(new String[0]));
    }

    static List<JsonNode> lines(Path file) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (String l : Files.readAllLines(file)) {
            out.add(JSON.readTree(l));
        }
        return out;
    }

    static int[] ints(JsonNode a) {
        int[] v = new int[a.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = a.get(i).asInt();
        }
        return v;
    }

    @Test
    void writesOneLinePerPromptWithIdsTextAndLogprobs() throws IOException {
        Path out = dir.resolve("out.jsonl");
        CliRunner.Result r = generate("--input", prompts.toString(), "--output", out.toString(), "--max-new-tokens", "24",
                "--logprobs", "3", "--batch", "2");
        assertEquals(0, r.exit(), r.err());
        assertEquals("", r.out());
        List<JsonNode> lines = lines(out);
        assertEquals(PROMPTS.length, lines.size());
        for (int i = 0; i < lines.size(); i++) {
            JsonNode l = lines.get(i);
            List<String> keys = new ArrayList<>();
            l.fieldNames().forEachRemaining(keys::add);
            assertEquals(List.of("finish_reason", "prompt", "completion", "prompt_ids", "completion_ids", "top_logprobs"), keys);
            assertEquals(PROMPTS[i], l.get("prompt").asText());
            int[] promptIds = ints(l.get("prompt_ids"));
            assertEquals(1, promptIds[0], "add_bos_token: prompt_ids start with BOS");
            int[] ids = ints(l.get("completion_ids"));
            String reason = l.get("finish_reason").asText();
            assertTrue(reason.equals("length") && ids.length == 24 || reason.equals("stop") && ids[ids.length - 1] == 2,
                    reason + " after " + ids.length + " tokens");
            assertFalse(l.get("completion").asText().isEmpty());
            JsonNode lp = l.get("top_logprobs");
            assertEquals(ids.length, lp.size());
            for (int s = 0; s < ids.length; s++) {
                JsonNode step = lp.get(s);
                assertEquals(3, step.size());
                Iterator<String> it = step.fieldNames();
                String first = it.next();
                assertEquals(ids[s], Integer.parseInt(first), "greedy: the chosen token is the most likely");
                double prev = step.get(first).asDouble();
                assertTrue(prev <= 0);
                while (it.hasNext()) {
                    double v = step.get(it.next()).asDouble();
                    assertTrue(v <= prev);
                    prev = v;
                }
            }
        }
        // --prompt streams the same completion to standard output.
        CliRunner.Result s = generate("--prompt", PROMPTS[0], "--max-new-tokens", "24");
        assertEquals(0, s.exit(), s.err());
        assertEquals(lines.get(0).get("completion").asText() + "\n", s.out());

        // An existing output is refused without --overwrite, and replaced with it.
        assertUserError(generate("--input", prompts.toString(), "--output", out.toString()), "--overwrite");
        CliRunner.Result again = generate("--input", prompts.toString(), "--output", out.toString(), "--overwrite",
                "--max-new-tokens", "5");
        assertEquals(0, again.exit(), again.err());
        assertEquals(5, lines(out).get(0).get("completion_ids").size());
        assertFalse(lines(out).get(0).has("top_logprobs"), "only with --logprobs");
    }

    @Test
    void samplingFollowsTheSeedAndStopStringsCut() throws IOException {
        Path a = dir.resolve("a.jsonl");
        Path b = dir.resolve("b.jsonl");
        Path c = dir.resolve("c.jsonl");
        String[] sampling = {"--max-new-tokens", "30", "--temperature", "1.0", "--top-k", "40", "--top-p", "0.95"};
        assertEquals(0, generate(concat(new String[] {"--input", prompts.toString(), "--output", a.toString(), "--seed", "5"}, sampling)).exit());
        assertEquals(0, generate(concat(new String[] {"--input", prompts.toString(), "--output", b.toString(), "--seed", "5", "--batch", "1"}, sampling)).exit());
        CliRunner.Result noSeed = generate(concat(new String[] {"--input", prompts.toString(), "--output", c.toString()}, sampling));
        assertTrue(noSeed.err().contains("--seed"), "a random seed is reported: " + noSeed.err());
        assertEquals(Files.readString(a), Files.readString(b), "same seed, same samples, whatever the batch");
        assertNotEquals(Files.readString(a), Files.readString(c));

        Path free = dir.resolve("free.jsonl");
        assertEquals(0, generate("--input", prompts.toString(), "--output", free.toString(), "--max-new-tokens", "40").exit());
        String text = lines(free).get(0).get("completion").asText();
        String stop = text.substring(text.length() / 2, text.length() / 2 + 3);
        Path cut = dir.resolve("cut.jsonl");
        assertEquals(0, generate("--input", prompts.toString(), "--output", cut.toString(), "--max-new-tokens", "40",
                "--stop", stop, "--stop", "no such text").exit());
        JsonNode first = lines(cut).get(0);
        assertEquals("stop", first.get("finish_reason").asText());
        assertEquals(text.substring(0, text.indexOf(stop)), first.get("completion").asText());
        CliRunner.Result streamed = generate("--prompt", PROMPTS[0], "--max-new-tokens", "40", "--stop", stop);
        assertEquals(first.get("completion").asText() + "\n", streamed.out());
    }

    static String[] concat(String[] a, String[] b) {
        String[] c = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }

    @Test
    void badInputIsOneLineNamingTheProblem() throws IOException {
        Path out = dir.resolve("never.jsonl");
        Path noKey = dir.resolve("nokey.jsonl");
        Files.writeString(noKey, "{\"prompt\": \"ok\"}\n{\"text\": \"no prompt here\"}\n");
        assertUserError(generate("--input", noKey.toString(), "--output", out.toString()), "line 2: no \"prompt\" key");
        Path notJson = dir.resolve("notjson.jsonl");
        Files.writeString(notJson, "{\"prompt\": \"ok\"}\n\n{\"prompt\": \"a\"\n");
        assertUserError(generate("--input", notJson.toString(), "--output", out.toString()), "line 3: not valid JSON");
        Path notString = dir.resolve("number.jsonl");
        Files.writeString(notString, "{\"prompt\": 5}\n");
        assertUserError(generate("--input", notString.toString(), "--output", out.toString()), "line 1: \"prompt\" must be a string");
        // stories260K's context is 512 tokens.
        Path long1 = dir.resolve("long.jsonl");
        ObjectNode big = JSON.createObjectNode().put("prompt", "Once upon a time there was a dog. ".repeat(80));
        Files.writeString(long1, "{\"prompt\": \"short\"}\n" + JSON.writeValueAsString(big) + "\n");
        CliRunner.Result tooLong = generate("--input", long1.toString(), "--output", out.toString());
        assertUserError(tooLong, "line 2: the prompt has ");
        assertTrue(tooLong.err().contains("context of 512 tokens"), tooLong.err());
        assertUserError(generate("--prompt", "Once upon a time there was a dog. ".repeat(80)), "context of 512 tokens");
        assertFalse(Files.exists(out), "nothing is written when the input is refused");

        // A file that generate did not write is never replaced, even with --overwrite.
        Path mine = dir.resolve("mine.jsonl");
        Files.writeString(mine, "{\"prompt\": \"my own data\"}\n");
        assertUserError(generate("--input", prompts.toString(), "--output", mine.toString(), "--overwrite"), "not a generations file");
        assertEquals("{\"prompt\": \"my own data\"}\n", Files.readString(mine));
        assertUserError(generate("--input", prompts.toString(), "--output", prompts.toString(), "--overwrite"), "is an input");

        assertUserError(generate("--max-new-tokens", "5"), "--input");
        assertUserError(generate("--input", prompts.toString()), "--output");
        assertUserError(generate("--prompt", "x", "--top-k", "5"), "--temperature");
        assertUserError(generate("--prompt", "x", "--temperature", "-1"), "--temperature");
        assertUserError(generate("--prompt", "x", "--temperature", "1", "--top-p", "1.5"), "--top-p");
        assertUserError(generate("--prompt", "x", "--max-new-tokens", "0"), "--max-new-tokens");
        assertUserError(generate("--prompt", "x", "--logprobs", "2"), "--logprobs");
        assertUserError(generate("--prompt", "x", "--stop", ""), "--stop");
        assertUserError(CliRunner.run("generate", "--model", CliRunner.miniLm().toString(), "--prompt", "x"), "is not a causal language model");
    }

    @Test
    void benchGeneratePrintsOneJsonLine() throws IOException {
        for (String batch : new String[] {"1", "3"}) {
            CliRunner.Result r = CliRunner.run("bench", "generate", "--model", model.toString(), "--batch", batch,
                    "--prompt-len", "8", "--new-tokens", "12", "--steps", "1", "--warmup", "0", "--threads", "1", "--json");
            assertEquals(0, r.exit(), r.err());
            JsonNode o = JSON.readTree(r.out().strip());
            assertEquals("generate", o.get("mode").asText());
            assertEquals(Integer.parseInt(batch), o.get("batch").asInt());
            assertTrue(o.get("tokens_per_s").asDouble() > 0);
            assertTrue(o.get("tokens_per_s_incl_prefill").asDouble() > 0);
            assertTrue(o.get("prefill_ms").asDouble() > 0);
            assertTrue(o.get("peak_rss_mb").asDouble() > 0);
        }
        assertUserError(CliRunner.run("bench", "generate", "--model", model.toString(), "--prompt-len", "500",
                "--new-tokens", "100"), "context of 512");
    }
}
