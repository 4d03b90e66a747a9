package dev.dynalora.generation;

import dev.dynalora.models.llama.LlamaConfig;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static dev.dynalora.generation.GenerationFixtures.sharedModel;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Incremental decoding with real SentencePiece tokenizers: text streamed token by token must equal the
 * decoded whole, keep the spaces that the "▁" marker stands for, and never show half a character while the
 * byte-fallback tokens of a character are still arriving.
 */
class CompletionTextTest {

    /** Feeds the ids of text (after the prompt's) one by one; returns the pieces released. */
    static List<String> stream(PromptTokenizer tok, String prompt, String text, List<String> stops, StringBuilder all) {
        int[] p = tok.encode(prompt);
        int[] whole = tok.encode(prompt + text);
        assertArrayEquals(p, Arrays.copyOf(whole, p.length), "the prompt's ids are a prefix (test set-up)");
        CompletionText ct = new CompletionText(tok, p, stops);
        List<String> pieces = new java.util.ArrayList<>();
        for (int i = p.length; i < whole.length && !ct.stopped(); i++) {
            String piece = ct.add(whole[i]);
            pieces.add(piece);
            all.append(piece);
        }
        String rest = ct.finish();
        pieces.add(rest);
        all.append(rest);
        assertEquals(ct.text(), all.toString());
        return pieces;
    }

    @Test
    void multiByteCharactersAndSpacesComeOutWhole() {
        // stories260K's vocabulary has 512 tokens: everything but plain ASCII goes through byte tokens.
        Path dir = sharedModel("stories260K");
        try (PromptTokenizer tok = PromptTokenizer.load(dir, LlamaConfig.read(dir).bosTokenId())) {
            String text = " Zoë said: naïve café, 😀 and 日本語 — done.";
            StringBuilder all = new StringBuilder();
            List<String> pieces = stream(tok, "Once upon a time", text, List.of(), all);
            assertEquals(text, all.toString());
            for (String piece : pieces) {
                assertFalse(piece.contains("\uFFFD"), "half a character was released: " + pieces);
                if (!piece.isEmpty()) {
                    assertFalse(Character.isHighSurrogate(piece.charAt(piece.length() - 1)), "a split surrogate pair");
                }
            }
            assertTrue(pieces.stream().filter(String::isEmpty).count() > 3, "byte tokens wait for their character");
        }
    }

    @Test
    void theFirstWordKeepsItsSpace() {
        Path dir = sharedModel("stories15M");
        try (PromptTokenizer tok = PromptTokenizer.load(dir, LlamaConfig.read(dir).bosTokenId())) {
            StringBuilder all = new StringBuilder();
            stream(tok, "Once upon a time", " there was a dog.\nThe end.", List.of(), all);
            assertEquals(" there was a dog.\nThe end.", all.toString());
        }
    }

    @Test
    void stopStringsAreHeldBackAndCut() {
        Path dir = sharedModel("stories15M");
        try (PromptTokenizer tok = PromptTokenizer.load(dir, LlamaConfig.read(dir).bosTokenId())) {
            StringBuilder all = new StringBuilder();
            List<String> pieces = stream(tok, "Once upon a time", " there was a dog. The end. More", List.of("The end", "zzz"), all);
            assertEquals(" there was a dog. ", all.toString());
            for (String piece : pieces) {
                assertFalse(piece.contains("The"), "the start of the stop string was streamed: " + pieces);
            }
            // A stop string that never completes is released at the end.
            StringBuilder all2 = new StringBuilder();
            stream(tok, "Once upon a time", " there was a dog. The", List.of("The end"), all2);
            assertEquals(" there was a dog. The", all2.toString());
        }
    }

    @Test
    void topKIndicesAreTheLargestInOrder() {
        SplittableRandom r = new SplittableRandom(1);
        float[] v = new float[1000];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) r.nextInt(200); // many ties
        }
        Integer[] all = new Integer[v.length];
        for (int i = 0; i < all.length; i++) {
            all[i] = i;
        }
        Arrays.sort(all, (a, b) -> v[a] != v[b] ? Float.compare(v[b], v[a]) : Integer.compare(a, b));
        for (int k : new int[] {0, 1, 5, 40, 999, 1000, 5000}) {
            int[] top = TopK.indices(v, 0, v.length, k);
            assertEquals(Math.min(k, v.length), top.length);
            for (int i = 0; i < top.length; i++) {
                assertEquals(all[i], top[i], "k=" + k + " rank " + i);
            }
        }
    }

    @Test
    void nucleusIsTheSmallestSetReachingP() {
        float[] p = {0.5f, 0.3f, 0.15f, 0.05f};
        assertEquals(1, Sampler.nucleus(p, 4, 0.5f));
        assertEquals(2, Sampler.nucleus(p, 4, 0.6f));
        assertEquals(3, Sampler.nucleus(p, 4, 0.81f));
        assertEquals(4, Sampler.nucleus(p, 4, 1f));
        assertEquals(1, Sampler.nucleus(p, 4, 0.01f));
    }
}
