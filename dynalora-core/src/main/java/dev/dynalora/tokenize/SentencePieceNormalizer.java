package dev.dynalora.tokenize;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Corrects one known inexactness of tokenizer.json files converted from SentencePiece models trained with
 * remove_extra_whitespaces (stories260K's is one): the converter writes a "Strip" normalizer, which strips every
 * kind of whitespace at both ends, newlines included, while SentencePiece removes only leading and trailing
 * spaces. "Speech.\n\n" then loses its two newline tokens, and a causal LM trained on text documents (each
 * ending in "\n\n") would see different token streams than the PyTorch reference, which tokenizes with
 * SentencePiece itself. The fix swaps that Strip for a Replace that removes only spaces at the ends; with it,
 * tinyshakespeare's validation text gives SentencePiece's 25,598 tokens for stories260K (24,875 before).
 */
final class SentencePieceNormalizer {
    private SentencePieceNormalizer() {
    }

    /**
     * The corrected tokenizer.json, or null when it needs no correction: only a Sequence normalizer that
     * prepends SentencePiece's "\u2581" (the mark of a converted SentencePiece model) and holds a Strip of both
     * ends is changed.
     */
    static ObjectNode corrected(JsonNode root) {
        JsonNode normalizer = root.path("normalizer");
        if (!"Sequence".equals(normalizer.path("type").asText()) || !normalizer.path("normalizers").isArray()) {
            return null;
        }
        boolean sentencePiece = false;
        int strip = -1;
        ArrayNode list = (ArrayNode) normalizer.get("normalizers");
        for (int i = 0; i < list.size(); i++) {
            JsonNode n = list.get(i);
            String type = n.path("type").asText();
            if ("Prepend".equals(type) && "\u2581".equals(n.path("prepend").asText())) {
                sentencePiece = true;
            }
            if ("Strip".equals(type) && n.path("strip_left").asBoolean(false) && n.path("strip_right").asBoolean(false)) {
                strip = i;
            }
        }
        if (!sentencePiece || strip < 0) {
            return null;
        }
        ObjectNode fixed = root.deepCopy();
        ArrayNode fixedList = (ArrayNode) fixed.get("normalizer").get("normalizers");
        ObjectNode replace = JsonNodeFactory.instance.objectNode();
        replace.put("type", "Replace");
        // \A and \z, not ^ and $: the tokenizers library's regular expressions are Oniguruma's, where ^ and $
        // match at every line break ("word  \n" would lose the space SentencePiece keeps).
        replace.putObject("pattern").put("Regex", "\\A +| +\\z");
        replace.put("content", "");
        fixedList.set(strip, replace);
        return fixed;
    }
}
