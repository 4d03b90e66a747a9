package dev.dynalora.serving;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.generation.Completion;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.function.IntFunction;

/**
 * /v1/chat/completions' answers: a choice's "message" (whole) or "delta" (streamed: the assistant's role first,
 * then content), and logprobs as {"content": [{token, logprob, bytes, top_logprobs}]}.
 */
final class ChatAnswers implements AnswerFormat {
    private final IntFunction<String> tokenText;
    private final int top;

    /**
     * @param tokenText a token id's text
     * @param top       the most likely tokens to report beside each chosen one (top_logprobs)
     */
    ChatAnswers(IntFunction<String> tokenText, int top) {
        this.tokenText = tokenText;
        this.top = top;
    }

    @Override
    public String idPrefix() {
        return "chatcmpl-";
    }

    @Override
    public String object() {
        return "chat.completion";
    }

    @Override
    public String chunkObject() {
        return "chat.completion.chunk";
    }

    @Override
    public void choice(ObjectNode ch, Completion c, List<GeneratedToken> tokens) {
        ObjectNode m = ch.putObject("message");
        m.put("role", "assistant");
        m.put("content", c.text());
        m.putNull("refusal");
        logprobs(ch, tokens);
    }

    @Override
    public boolean opening(ObjectNode ch) {
        ObjectNode d = ch.putObject("delta");
        d.put("role", "assistant");
        d.put("content", "");
        ch.putNull("logprobs");
        return true;
    }

    @Override
    public void piece(ObjectNode ch, String text, GeneratedToken token, boolean last) {
        ObjectNode d = ch.putObject("delta");
        // The last chunk carries the finish_reason, and content only if text was held back until the end.
        if (!last || !text.isEmpty()) {
            d.put("content", text);
        }
        logprobs(ch, token == null ? null : List.of(token));
    }

    private void logprobs(ObjectNode ch, List<GeneratedToken> list) {
        if (list == null) {
            ch.putNull("logprobs");
            return;
        }
        ObjectNode lp = ch.putObject("logprobs");
        ArrayNode content = lp.putArray("content");
        lp.putNull("refusal");
        for (GeneratedToken t : list) {
            ObjectNode e = entry(content.addObject(), t.id(), t.logprob());
            ArrayNode tops = e.putArray("top_logprobs");
            for (int k = 0; k < Math.min(top, t.top().size()); k++) {
                entry(tops.addObject(), t.top().ids()[k], t.top().logprobs()[k]);
            }
        }
    }

    private ObjectNode entry(ObjectNode e, int id, float logprob) {
        String s = tokenText.apply(id);
        e.put("token", s);
        e.put("logprob", logprob);
        ArrayNode bytes = e.putArray("bytes");
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            bytes.add(b & 0xff);
        }
        return e;
    }
}
