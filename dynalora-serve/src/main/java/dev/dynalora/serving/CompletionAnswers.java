package dev.dynalora.serving;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.generation.Completion;

import java.util.List;
import java.util.function.IntFunction;

/** /v1/completions' answers: a choice's "text", and logprobs as tokens, token_logprobs, top_logprobs and text_offset. */
final class CompletionAnswers implements AnswerFormat {
    private final IntFunction<String> tokenText;
    private final int top;

    /**
     * @param tokenText a token id's text
     * @param top       the most likely tokens to report beside each chosen one
     */
    CompletionAnswers(IntFunction<String> tokenText, int top) {
        this.tokenText = tokenText;
        this.top = top;
    }

    @Override
    public String idPrefix() {
        return "cmpl-";
    }

    @Override
    public String object() {
        return "text_completion";
    }

    @Override
    public String chunkObject() {
        return "text_completion";
    }

    @Override
    public void choice(ObjectNode ch, Completion c, List<GeneratedToken> tokens) {
        ch.put("text", c.text());
        logprobs(ch, tokens);
    }

    @Override
    public boolean opening(ObjectNode ch) {
        return false;
    }

    @Override
    public void piece(ObjectNode ch, String text, GeneratedToken token, boolean last) {
        ch.put("text", text);
        logprobs(ch, token == null ? null : List.of(token));
    }

    private void logprobs(ObjectNode ch, List<GeneratedToken> list) {
        if (list == null) {
            ch.putNull("logprobs");
            return;
        }
        ObjectNode lp = JsonNodeFactory.instance.objectNode();
        ArrayNode toks = lp.putArray("tokens");
        ArrayNode lps = lp.putArray("token_logprobs");
        ArrayNode tops = lp.putArray("top_logprobs");
        ArrayNode offs = lp.putArray("text_offset");
        int offset = 0;
        for (GeneratedToken t : list) {
            String s = tokenText.apply(t.id());
            toks.add(s);
            lps.add(t.logprob());
            ObjectNode o = tops.addObject();
            for (int k = 0; k < Math.min(top, t.top().size()); k++) {
                o.put(tokenText.apply(t.top().ids()[k]), t.top().logprobs()[k]);
            }
            offs.add(offset);
            offset += s.length();
        }
        ch.set("logprobs", lp);
    }
}
