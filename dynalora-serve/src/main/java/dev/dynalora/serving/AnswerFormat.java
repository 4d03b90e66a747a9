package dev.dynalora.serving;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.generation.Completion;

import java.util.List;

/**
 * How one route writes its answers, whole and streamed: /v1/completions' text_completion ({@link CompletionAnswers})
 * or /v1/chat/completions' chat.completion ({@link ChatAnswers}). The server runs both the same way (one
 * scheduler job, usage, errors); only the choices' JSON differs.
 */
interface AnswerFormat {
    /** "cmpl-" or "chatcmpl-". */
    String idPrefix();

    /** The whole answer's "object". */
    String object();

    /** A streamed chunk's "object". */
    String chunkObject();

    /**
     * Fills a whole answer's choice (its index is there already; finish_reason comes after).
     *
     * @param tokens the choice's tokens with their logprobs, null unless asked for
     */
    void choice(ObjectNode ch, Completion c, List<GeneratedToken> tokens);

    /** Fills the choice of a chunk sent before any text, or returns false when the format has none. */
    boolean opening(ObjectNode ch);

    /**
     * Fills a streamed choice with a piece of text (finish_reason comes after).
     *
     * @param token the token the text came with and its logprobs, null unless asked for
     * @param last  whether this is the choice's last chunk
     */
    void piece(ObjectNode ch, String text, GeneratedToken token, boolean last);
}
