package dev.dynalora.tokenize;

import dev.dynalora.formats.SharedModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static dev.dynalora.formats.UserErrors.assertUserError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TextTokenizerTest {
    private static TextTokenizer miniLm;

    @TempDir
    Path dir;

    @BeforeAll
    static void load() {
        miniLm = TextTokenizer.load(SharedModels.model("all-MiniLM-L6-v2"), 128);
    }

    @AfterAll
    static void close() {
        miniLm.close();
    }

    @Test
    void singleTextMatchesBertUncasedIds() {
        Encoding e = miniLm.encode("Hello world!");
        // [CLS] hello world ! [SEP], as transformers' BertTokenizerFast gives for bert-base-uncased.
        assertArrayEquals(new int[] {101, 7592, 2088, 999, 102}, e.ids());
        assertArrayEquals(new int[] {0, 0, 0, 0, 0}, e.typeIds());
        assertArrayEquals(new int[] {1, 1, 1, 1, 1}, e.attentionMask());
        assertFalse(e.truncated());
        assertEquals(miniLm.encode("HELLO   World!"), e, "lower-casing and whitespace come from tokenizer.json");
    }

    @Test
    void pairGetsSegmentIds() {
        Encoding e = miniLm.encodePair("Hello world!", "How are you?");
        assertArrayEquals(new int[] {101, 7592, 2088, 999, 102, 2129, 2024, 2017, 1029, 102}, e.ids());
        assertArrayEquals(new int[] {0, 0, 0, 0, 0, 1, 1, 1, 1, 1}, e.typeIds());
    }

    @Test
    void noPaddingDespiteTokenizerJson() {
        // MiniLM's tokenizer.json asks for fixed padding to 128; we pad per batch ourselves.
        assertEquals(5, miniLm.encode("Hello world!").length());
    }

    @Test
    void truncation() {
        try (TextTokenizer t = TextTokenizer.load(SharedModels.model("all-MiniLM-L6-v2"), 5)) {
            Encoding e = t.encode("Hello world, how are you today?");
            assertArrayEquals(new int[] {101, 7592, 2088, 1010, 102}, e.ids(), "cut, keeping [SEP]");
            assertTrue(e.truncated());
            assertFalse(t.encode("Hello world!").truncated(), "exactly max length is not truncated");

            // longest_first: 2 content tokens for "hello world !" (3) + "how are you doing ?" (5): the longer
            // loses tokens first until they are even, then both lose alternately.
            Encoding p = t.encodePair("Hello world!", "How are you doing?");
            assertArrayEquals(new int[] {101, 7592, 102, 2129, 102}, p.ids());
            assertArrayEquals(new int[] {0, 0, 0, 1, 1}, p.typeIds());
            assertTrue(p.truncated());
        }
        try (TextTokenizer t = TextTokenizer.load(SharedModels.model("all-MiniLM-L6-v2"), 8)) {
            // 5 content tokens for "hello world !" (3) + "one two three four five six" (6). The fast
            // tokenizers' LongestFirst cuts the longer text to what the shorter leaves, but when both would
            // then exceed half the space they split it evenly, the odd token going to the second: 2 + 3.
            // (Python's slow tokenizers pop one token at a time and would give 3 + 2; ids here follow the
            // fast tokenizer, which is what transformers uses by default.)
            Encoding p = t.encodePair("Hello world!", "one two three four five six");
            assertArrayEquals(new int[] {101, 7592, 2088, 102, 2028, 2048, 2093, 102}, p.ids());
            assertArrayEquals(new int[] {0, 0, 0, 0, 1, 1, 1, 1}, p.typeIds());
            // A short first text that fits in its half is kept whole; the long second one takes the rest.
            Encoding q = t.encodePair("Hi", "one two three four five six");
            assertArrayEquals(new int[] {101, 7632, 102, 2028, 2048, 2093, 2176, 102}, q.ids());
        }
    }

    @Test
    void maxLengthAboveTokenizerJsonsOwnLimit() {
        // tokenizer.json says truncate at 128; our setting replaces it.
        try (TextTokenizer t = TextTokenizer.load(SharedModels.model("all-MiniLM-L6-v2"), 300)) {
            String text = "word ".repeat(400);
            Encoding e = t.encode(text);
            assertEquals(300, e.length());
            assertTrue(e.truncated());
        }
        assertEquals(128, miniLm.encode("word ".repeat(400)).length());
    }

    @Test
    void batchEqualsOneByOne() {
        List<String> texts = List.of("Hello world!", "", "A longer sentence, with punctuation.");
        List<Encoding> batch = miniLm.encodeBatch(texts);
        for (int i = 0; i < texts.size(); i++) {
            assertEquals(miniLm.encode(texts.get(i)), batch.get(i));
        }
    }

    @Test
    void vocabularyAndPad() {
        assertEquals(0, miniLm.padId());
        assertEquals(30522, miniLm.vocabSize());
        assertEquals(101, miniLm.tokenId("[CLS]").getAsInt());
        assertEquals(7592, miniLm.tokenId("hello").getAsInt());
        assertTrue(miniLm.tokenId("not-a-token-xyz").isEmpty());
        assertEquals("hello world!", miniLm.decode(new int[] {101, 7592, 2088, 999, 102}, true));
    }

    @Test
    void bgeHasNoPaddingSectionButAPadToken() {
        try (TextTokenizer t = TextTokenizer.load(SharedModels.model("bge-small-en-v1.5"), 512)) {
            assertEquals(0, t.padId());
            assertArrayEquals(new int[] {101, 7592, 2088, 999, 102}, t.encode("Hello world!").ids());
        }
    }

    @Test
    void llamaTokenizer() {
        try (TextTokenizer t = TextTokenizer.load(SharedModels.model("stories260K"), 64)) {
            Encoding e = t.encode("Once upon a time");
            assertEquals(1, e.id(0), "<s> first");
            assertEquals(512, t.vocabSize());
            assertEquals(2, t.padId(), "no pad token: falls back to </s>");
            for (int id : e.ids()) {
                assertTrue(id >= 0 && id < t.vocabSize());
            }
        }
    }

    @Test
    void missingFolderOrTokenizerJson() throws IOException {
        assertUserError(() -> TextTokenizer.load(dir.resolve("nope"), 128), "nope", "does not exist");
        assertUserError(() -> TextTokenizer.load(dir, 128), dir.toString(), "no tokenizer.json");
        Files.writeString(dir.resolve("vocab.txt"), "[PAD]\n");
        assertUserError(() -> TextTokenizer.load(dir, 128), "no tokenizer.json");
    }

    @Test
    void invalidTokenizerJson() throws IOException {
        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": ");
        assertUserError(() -> TextTokenizer.load(dir, 128), "tokenizer.json", "not valid JSON");
        Files.writeString(dir.resolve("tokenizer.json"), "{\"version\": \"1.0\"}");
        assertUserError(() -> TextTokenizer.load(dir, 128), "tokenizer.json", "model.vocab");
        // Valid JSON with a vocabulary, but not something the tokenizers library can build.
        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": {\"type\": \"Nonsense\", \"vocab\": {\"a\": 0}}}");
        assertUserError(() -> TextTokenizer.load(dir, 128), "tokenizer.json", "not a valid tokenizer");
    }

    @Test
    void maxLengthTooSmall() {
        assertUserError(() -> TextTokenizer.load(SharedModels.model("all-MiniLM-L6-v2"), 3), "tokenizer.json",
                "max length 3 is too small", "at least 4");
        assertUserError(() -> TextTokenizer.load(SharedModels.model("all-MiniLM-L6-v2"), 0), "max length");
    }

    /**
     * stories260K's tokenizer.json (converted from SentencePiece with remove_extra_whitespaces) strips newlines
     * at the ends of a text, which SentencePiece does not; the ids below are SentencePiece's own
     * (sentencepiece 0.1.99 with the folder's tokenizer.model), the ones the PyTorch reference trains on.
     */
    @Test
    void sentencePieceConvertedTokenizersKeepNewlinesAndSpacesAsSentencePieceDoes() {
        try (TextTokenizer t = TextTokenizer.load(dev.dynalora.formats.SharedModels.model("stories260K"), 1 << 16)) {
            assertArrayEquals(new int[] {301, 427, 411, 411, 402, 353, 411, 426, 13, 13}, t.encodeTokens("Speech one.\n\n"));
            assertArrayEquals(new int[] {410, 447, 264, 410, 13, 434, 424, 417, 331, 329, 299, 410, 13, 448, 412, 419, 345,
                    426, 13, 13}, t.encodeTokens("  And  \nTwice being  \nWas his.\n\n"));
            assertArrayEquals(new int[] {410, 461, 411, 435, 417, 411, 424, 467, 261, 272, 290, 423, 13, 437, 377, 288, 377,
                    467}, t.encodeTokens("Review: a  film\nSentiment:"));
        }
    }
}
