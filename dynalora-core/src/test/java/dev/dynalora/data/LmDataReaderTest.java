package dev.dynalora.data;

import dev.dynalora.UserInputException;
import dev.dynalora.formats.SharedModels;
import dev.dynalora.tokenize.TextTokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Causal-LM data built as the PyTorch reference builds it: documents, BOS, windows overlapping by one; sft masks. */
class LmDataReaderTest {
    static TextTokenizer tok;

    @BeforeAll
    static void load() {
        tok = TextTokenizer.load(SharedModels.model("stories260K"), 1 << 20);
    }

    @AfterAll
    static void close() {
        tok.close();
    }

    /** The reference: docs = text.split("\n\n") if d.strip(); stream += [1] + encode(d + "\n\n"); windows. */
    static List<int[]> expectedWindows(String text, int block) {
        List<Integer> stream = new ArrayList<>();
        for (String d : text.split("\n\n", -1)) {
            if (!d.isBlank()) {
                stream.add(1);
                for (int t : tok.encodeTokens(d + "\n\n")) {
                    stream.add(t);
                }
            }
        }
        List<int[]> out = new ArrayList<>();
        int n = (stream.size() - 1) / block;
        for (int i = 0; i < n; i++) {
            out.add(stream.subList(i * block, i * block + block + 1).stream().mapToInt(Integer::intValue).toArray());
        }
        return out;
    }

    @Test
    void textBlocksAreBosPrefixedDocumentsCutIntoOverlappingWindows(@TempDir Path dir) throws Exception {
        String text = "First speech, it\nruns two lines.\n\n\n\nSecond one.\n\n   \n\nThird, the last one here.\n";
        Path f = dir.resolve("train.txt");
        Files.writeString(f, text);
        List<LmExample> blocks = LmDataReader.textBlocks(f, tok, 1, 8, 0);
        List<int[]> expected = expectedWindows(text, 8);
        assertEquals(expected.size(), blocks.size());
        for (int i = 0; i < blocks.size(); i++) {
            assertArrayEquals(expected.get(i), blocks.get(i).ids());
            assertEquals(0, blocks.get(i).firstTarget());
            assertEquals(8, blocks.get(i).inputLength());
            if (i > 0) {
                // Consecutive windows share one token: the last target of one is the first input of the next.
                assertEquals(blocks.get(i - 1).ids()[8], blocks.get(i).ids()[0]);
            }
        }
        assertEquals(1, blocks.get(0).ids()[0], "a document starts with BOS");
        assertEquals(2, LmDataReader.textBlocks(f, tok, 1, 8, 2).size(), "--limit takes the first windows");
    }

    @Test
    void promptCompletionPairsScoreOnlyTheCompletionAndEndWithEos(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("train.jsonl");
        Files.writeString(f, "{\"prompt\": \"Review: fine\\nSentiment:\", \"completion\": \" positive\"}\n\n"
                + "{\"prompt\": \"Review: a very long review that goes on and on\\nSentiment:\", \"completion\": \" negative\"}\n");
        List<LmExample> all = LmDataReader.promptCompletions(f, tok, 1, 2, 64, 0);
        assertEquals(2, all.size());
        LmExample e = all.get(0);
        int[] p = tok.encodeTokens("Review: fine\nSentiment:");
        int[] c = tok.encodeTokens(" positive");
        int[] expected = new int[1 + p.length + c.length + 1];
        expected[0] = 1;
        System.arraycopy(p, 0, expected, 1, p.length);
        System.arraycopy(c, 0, expected, 1 + p.length, c.length);
        expected[expected.length - 1] = 2;
        assertArrayEquals(expected, e.ids());
        // Scored positions predict the completion's tokens and EOS: ids[firstTarget + 1 ..] = completion + EOS.
        assertEquals(p.length, e.firstTarget());
        assertEquals(c.length + 1, e.targets());
        assertArrayEquals(Arrays.copyOfRange(expected, 1 + p.length, expected.length),
                Arrays.copyOfRange(e.ids(), e.firstTarget() + 1, e.ids().length));

        // --max-len cuts the sequence; a pair whose prompt fills the block has nothing to learn and is skipped.
        List<LmExample> cut = LmDataReader.promptCompletions(f, tok, 1, 2, p.length + 1, 0);
        assertEquals(1, cut.size());
        assertEquals(p.length + 2, cut.get(0).ids().length);
        assertEquals(1, LmDataReader.promptCompletions(f, tok, 1, 2, 64, 1).size(), "--limit");
    }

    @Test
    void malformedFilesAreOneLineErrorsNamingTheLine(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("train.jsonl");
        Files.writeString(f, "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"completion\": \"b\"}\n");
        UserInputException e = assertThrows(UserInputException.class, () -> LmDataReader.promptCompletions(f, tok, 1, 2, 64, 0));
        assertTrue(e.getMessage().contains("train.jsonl:2") && e.getMessage().contains("\"prompt\""), e.getMessage());
        Files.writeString(f, "not json\n");
        e = assertThrows(UserInputException.class, () -> LmDataReader.promptCompletions(f, tok, 1, 2, 64, 0));
        assertTrue(e.getMessage().contains("train.jsonl:1: not a JSON object"), e.getMessage());
        Path t = dir.resolve("train.txt");
        Files.writeString(t, "\n\n  \n\n");
        e = assertThrows(UserInputException.class, () -> LmDataReader.textBlocks(t, tok, 1, 8, 0));
        assertTrue(e.getMessage().contains("no text"), e.getMessage());
        Files.writeString(t, "short");
        e = assertThrows(UserInputException.class, () -> LmDataReader.textBlocks(t, tok, 1, 64, 0));
        assertTrue(e.getMessage().contains("fewer than one block"), e.getMessage());
        e = assertThrows(UserInputException.class, () -> LmDataReader.splitFile(dir, true, false));
        assertTrue(e.getMessage().contains("valid.jsonl"), e.getMessage());
    }
}
