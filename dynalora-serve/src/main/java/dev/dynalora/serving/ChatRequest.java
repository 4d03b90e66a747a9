package dev.dynalora.serving;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * POST /v1/chat/completions' body, checked as OpenAI checks it, made into the {@link CompletionRequest} the
 * completions path runs: the messages rendered by the model's {@link ChatTemplate} once, here on the request's
 * thread, and tokenized as they are (the template writes its own special tokens); {@code n} choices are n
 * sequences of that prompt, each sampled with its own generator (seed and index), as completions' prompts are.
 * Sampling, stop strings and streaming fields are completions' own ({@link CompletionRequest#sampling}).
 */
final class ChatRequest {
    private static final Set<String> ROLES = Set.of("system", "user", "assistant");

    private ChatRequest() {
    }

    /**
     * @param encode  the rendered prompt to token ids, special tokens written in it included and none added
     * @param context the model's context
     */
    static CompletionRequest parse(JsonNode body, ChatTemplate template, Function<String, int[]> encode, int context) {
        CompletionRequest r = new CompletionRequest();
        r.model = CompletionRequest.model(body);
        List<Map<String, Object>> messages = messages(body.get("messages"));
        // OpenAI's default is the rest of the context; max_completion_tokens is the newer name of max_tokens.
        long maxTokens = body.hasNonNull("max_completion_tokens")
                ? CompletionRequest.integer(body, "max_completion_tokens", context, 1, Long.MAX_VALUE)
                : CompletionRequest.integer(body, "max_tokens", context, 1, Long.MAX_VALUE);
        int n = (int) CompletionRequest.integer(body, "n", 1, 1, CompletionRequest.MAX_PROMPTS);
        r.logprobsAsked = CompletionRequest.bool(body, "logprobs", false);
        if (body.hasNonNull("top_logprobs") && !r.logprobsAsked) {
            throw ApiException.badRequest("top_logprobs needs logprobs: true", "top_logprobs");
        }
        r.logprobs = (int) CompletionRequest.integer(body, "top_logprobs", 0, 0, CompletionRequest.MAX_LOGPROBS);
        JsonNode tools = body.get("tools");
        if (tools != null && !tools.isNull() && !(tools.isArray() && tools.isEmpty())) {
            throw ApiException.badRequest("tools are not supported by this server", "tools");
        }
        JsonNode format = body.get("response_format");
        if (format != null && !format.isNull() && !"text".equals(format.path("type").asText())) {
            throw ApiException.badRequest("response_format must be {\"type\": \"text\"} on this server (no JSON mode)",
                    "response_format");
        }
        r.sampling(body, maxTokens, context);
        int[] prompt = encode.apply(template.render(messages));
        if (prompt.length == 0) {
            throw ApiException.badRequest("the chat template made an empty prompt of these messages", "messages");
        }
        CompletionRequest.checkLength(prompt.length, context, "", "messages");
        r.prompts = Collections.nCopies(n, prompt);
        r.promptTokens = prompt.length;
        return r;
    }

    /** The messages as the template sees them: {role, content} (and name), content's text parts joined. */
    private static List<Map<String, Object>> messages(JsonNode list) {
        if (list == null || list.isNull()) {
            throw ApiException.badRequest("you must provide messages", "messages");
        }
        if (!list.isArray() || list.isEmpty()) {
            throw ApiException.badRequest("messages must be a non-empty list of {\"role\", \"content\"} objects", "messages");
        }
        List<Map<String, Object>> out = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            JsonNode m = list.get(i);
            String at = "messages[" + i + "]";
            if (!m.isObject()) {
                throw ApiException.badRequest(at + " must be an object with role and content", "messages");
            }
            JsonNode role = m.get("role");
            if (role == null || !role.isTextual() || !ROLES.contains(role.asText())) {
                throw ApiException.badRequest(at + ".role must be \"system\", \"user\" or \"assistant\" on this server, got "
                        + (role == null ? "nothing" : role), "messages");
            }
            if (m.hasNonNull("tool_calls") && !(m.get("tool_calls").isArray() && m.get("tool_calls").isEmpty())) {
                throw ApiException.badRequest(at + ": tool calls are not supported by this server", "messages");
            }
            Map<String, Object> msg = new LinkedHashMap<>();
            msg.put("role", role.asText());
            msg.put("content", content(m.get("content"), at));
            JsonNode name = m.get("name");
            if (name != null && !name.isNull()) {
                if (!name.isTextual()) {
                    throw ApiException.badRequest(at + ".name must be a string", "messages");
                }
                msg.put("name", name.asText());
            }
            out.add(msg);
        }
        return out;
    }

    /**
     * A string, or a list of text parts {"type": "text", "text": ...}, joined with newlines as vLLM joins them
     * for templates that take a string.
     */
    private static String content(JsonNode c, String at) {
        if (c == null || c.isNull()) {
            throw ApiException.badRequest(at + ".content is missing (a string or a list of text parts)", "messages");
        }
        if (c.isTextual()) {
            return c.asText();
        }
        if (!c.isArray()) {
            throw ApiException.badRequest(at + ".content must be a string or a list of text parts, got " + c.getNodeType()
                    .toString().toLowerCase(java.util.Locale.ROOT), "messages");
        }
        List<String> texts = new ArrayList<>();
        for (int k = 0; k < c.size(); k++) {
            JsonNode part = c.get(k);
            String type = part.path("type").asText("");
            if (!type.equals("text")) {
                throw ApiException.badRequest(at + ".content[" + k + "]: only parts of type \"text\" are supported by this"
                        + " server (a text-only model), got " + (type.isEmpty() ? part.toString() : "\"" + type + "\""), "messages");
            }
            JsonNode text = part.get("text");
            if (text == null || !text.isTextual()) {
                throw ApiException.badRequest(at + ".content[" + k + "].text must be a string", "messages");
            }
            texts.add(text.asText());
        }
        return String.join("\n", texts);
    }
}
