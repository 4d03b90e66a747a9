package dev.dynalora.generation;

import java.util.Arrays;
import java.util.List;

/**
 * A completion's text, built token by token so it can be streamed and checked for stop strings as it grows.
 *
 * <p>Decoding one token at a time does not work for SentencePiece vocabularies: the decoder drops the
 * leading space of a text's first word ("▁there" alone decodes to "there"), and a character outside the
 * vocabulary arrives as several byte tokens, each undecodable alone. So, as vLLM does, each step decodes a
 * short window of tokens twice, without and with the new ones, and the difference is the new text; the
 * window starts a few tokens back (at first inside the prompt), so the new text's first word keeps its space.
 * A decode that ends in U+FFFD is an incomplete character: its text waits for the next token.
 *
 * <p>Stop strings: text is released to the listener only once no stop string can begin in it, so a stop
 * string is never streamed; when one appears, the text is cut before it.
 */
final class CompletionText {
    /** Prompt tokens the first window reaches back (vLLM's INITIAL_INCREMENTAL_DETOKENIZATION_OFFSET). */
    private static final int PROMPT_CONTEXT = 5;

    private final Detokenizer detok;
    private final List<String> stops;
    private final int longestStop;
    private int[] ids;
    private int size;
    private int prefixOffset; // the window: ids[prefixOffset, readOffset) is already text
    private int readOffset;
    private final StringBuilder text = new StringBuilder();
    private int released;
    private boolean stopped;

    CompletionText(Detokenizer detok, int[] prompt, List<String> stops) {
        this.detok = detok;
        this.stops = stops;
        this.longestStop = stops.stream().mapToInt(String::length).max().orElse(0);
        this.ids = Arrays.copyOf(prompt, prompt.length + 16);
        this.size = prompt.length;
        this.readOffset = prompt.length;
        this.prefixOffset = Math.max(0, prompt.length - PROMPT_CONTEXT);
    }

    /** Adds a generated token; returns the text that became final (possibly empty). */
    String add(int id) {
        if (stopped) {
            throw new IllegalStateException("the completion already ended at a stop string");
        }
        if (size == ids.length) {
            ids = Arrays.copyOf(ids, size * 2);
        }
        ids[size++] = id;
        String delta = decodeNew(false);
        if (!delta.isEmpty()) {
            append(delta);
        }
        return release(false);
    }

    /** Whether a stop string was found (the text is cut before it). */
    boolean stopped() {
        return stopped;
    }

    /**
     * Ends the completion: text still waiting for the rest of a character is released as it decodes
     * (with its replacement characters), and everything held back for stop strings. Returns that text.
     */
    String finish() {
        if (!stopped) {
            String delta = decodeNew(true);
            if (!delta.isEmpty()) {
                append(delta);
            }
        }
        return release(true);
    }

    /** The whole completion text so far (cut at a stop string). */
    String text() {
        return text.toString();
    }

    private String decodeNew(boolean force) {
        if (size == readOffset) {
            return "";
        }
        String before = detok.decode(ids, prefixOffset, readOffset);
        String after = detok.decode(ids, prefixOffset, size);
        if (after.length() <= before.length() || (!force && after.endsWith("\uFFFD"))) {
            return "";
        }
        prefixOffset = readOffset;
        readOffset = size;
        // The window's text normally extends the earlier one; if a decoder ever rewrote it, take the tail.
        return after.startsWith(before) ? after.substring(before.length()) : after.substring(Math.min(before.length(), after.length()));
    }

    private void append(String delta) {
        int from = Math.max(0, text.length() - longestStop + 1);
        text.append(delta);
        int cut = -1;
        for (String s : stops) {
            int at = text.indexOf(s, from);
            if (at >= 0 && (cut < 0 || at < cut)) {
                cut = at;
            }
        }
        if (cut >= 0) {
            text.setLength(cut);
            stopped = true;
        }
    }

    /** Text from the last release up to where a stop string could still begin (everything when final). */
    private String release(boolean all) {
        int upTo = all || stopped ? text.length() : text.length() - heldBack();
        if (upTo <= released) {
            return "";
        }
        String out = text.substring(released, upTo);
        released = upTo;
        return out;
    }

    /** The longest end of the text that is the start of a stop string (it may become one). */
    private int heldBack() {
        int best = 0;
        int n = text.length();
        String tail = text.substring(Math.max(0, n - longestStop));
        for (String s : stops) {
            for (int l = Math.min(s.length() - 1, tail.length()); l > best; l--) {
                if (tail.regionMatches(tail.length() - l, s, 0, l)) {
                    best = l;
                    break;
                }
            }
        }
        return best;
    }
}
