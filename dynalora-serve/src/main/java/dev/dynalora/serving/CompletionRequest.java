package dev.dynalora.serving;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dynalora.UserInputException;
import dev.dynalora.generation.GenerationConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * POST /v1/completions' body, checked field by field as OpenAI's API checks it (a field of the wrong type or
 * out of range is a 400 naming the field); also what a chat request becomes ({@link ChatRequest}), the fields both
 * share read by {@link #sampling}. Fields OpenAI defines that this server does not implement are
 * accepted at their neutral value (n = 1, echo false, no penalties, best_of 1) and refused otherwise;
 * unknown fields are ignored, as OpenAI-compatible servers do.
 */
final class CompletionRequest {
    /** Most prompts one request may carry. */
    static final int MAX_PROMPTS = 256;
    /** Most top logprobs per token (vLLM's default limit; OpenAI allows 5). */
    static final int MAX_LOGPROBS = 20;
    static final int MAX_STOPS = 16;

    String model;
    List<int[]> prompts;
    /** The prompt tokens usage reports (a chat's prompt once, whatever n). */
    int promptTokens;
    boolean stream;
    boolean includeUsage;
    /** The most likely tokens to report beside each chosen one (0 with logprobs asked: the chosen one's only). */
    int logprobs;
    boolean logprobsAsked;
    GenerationConfig config;

    /**
     * @param encode  a prompt's text to token ids
     * @param context the model's context, for the prompt-length check and the cut of max_tokens
     * @param vocab   for token-id prompts
     */
    static CompletionRequest parse(JsonNode body, Function<String, int[]> encode, int context, int vocab) {
        CompletionRequest r = new CompletionRequest();
        r.model = model(body);
        r.prompts = prompts(body.get("prompt"), encode, context, vocab);
        for (int[] p : r.prompts) {
            r.promptTokens += p.length;
        }
        long maxTokens = integer(body, "max_tokens", 16, 1, Long.MAX_VALUE);
        JsonNode lp = body.get("logprobs");
        if (lp != null && !lp.isNull()) {
            if (lp.isBoolean()) {
                throw ApiException.badRequest("logprobs must be an integer from 0 to " + MAX_LOGPROBS
                        + " on /v1/completions (the number of most likely tokens to report)", "logprobs");
            }
            r.logprobs = (int) integer(body, "logprobs", 0, 0, MAX_LOGPROBS);
            r.logprobsAsked = true;
        }
        neutral(body, "n", 1);
        neutral(body, "best_of", 1);
        if (bool(body, "echo", false)) {
            throw ApiException.badRequest("echo is not supported by this server", "echo");
        }
        JsonNode suffix = body.get("suffix");
        if (suffix != null && !suffix.isNull()) {
            throw ApiException.badRequest("suffix is not supported by this server", "suffix");
        }
        r.sampling(body, maxTokens, context);
        return r;
    }

    /** The body's model field (checked to be a JSON object first). */
    static String model(JsonNode body) {
        if (body == null || !body.isObject()) {
            throw ApiException.badRequest("the request body must be a JSON object", null);
        }
        JsonNode m = body.get("model");
        if (m == null || m.isNull()) {
            throw ApiException.badRequest("you must provide a model parameter", "model");
        }
        if (!m.isTextual()) {
            throw ApiException.badRequest("model must be a string", "model");
        }
        return m.asText();
    }

    /**
     * The fields completions and chat completions share (temperature, top_p, top_k, seed, stop, stream,
     * stream_options, penalties, logit_bias), read into this request's config with maxTokens cut to the context
     * and the logprobs already read.
     */
    void sampling(JsonNode body, long maxTokens, int context) {
        // max_tokens beyond the context is cut to it: the completion then ends at the context (finish_reason length).
        int maxNew = (int) Math.min(maxTokens, context);
        double temperature = number(body, "temperature", 1.0, 0.0, 2.0);
        double topP = number(body, "top_p", 1.0, Double.MIN_VALUE, 1.0);
        long topK = integer(body, "top_k", 0, -1, Integer.MAX_VALUE);
        JsonNode seedNode = body.get("seed");
        long seed;
        if (seedNode == null || seedNode.isNull()) {
            seed = new SplittableRandom().nextLong();
        } else if (seedNode.isIntegralNumber() && seedNode.canConvertToLong()) {
            seed = seedNode.asLong();
        } else {
            throw ApiException.badRequest("seed must be an integer", "seed");
        }
        stream = bool(body, "stream", false);
        JsonNode so = body.get("stream_options");
        if (so != null && !so.isNull()) {
            if (!so.isObject()) {
                throw ApiException.badRequest("stream_options must be an object", "stream_options");
            }
            if (!stream) {
                throw ApiException.badRequest("stream_options is only allowed with stream: true", "stream_options");
            }
            includeUsage = bool(so, "include_usage", false);
        }
        List<String> stop = stops(body.get("stop"));
        if (number(body, "presence_penalty", 0, -2, 2) != 0 || number(body, "frequency_penalty", 0, -2, 2) != 0) {
            throw ApiException.badRequest("presence_penalty and frequency_penalty are not supported by this server (0 only)",
                    body.has("presence_penalty") ? "presence_penalty" : "frequency_penalty");
        }
        JsonNode bias = body.get("logit_bias");
        if (bias != null && !bias.isNull() && !(bias.isObject() && bias.isEmpty())) {
            throw ApiException.badRequest("logit_bias is not supported by this server", "logit_bias");
        }
        try {
            // The generator reports the chosen token's logprob only beside at least one top token: ask it for one
            // when the client wants the chosen ones alone (logprobs 0); the answer reports `logprobs` of them.
            config = new GenerationConfig(maxNew, (float) temperature, topK < 0 ? 0 : (int) topK,
                    temperature == 0 ? 1f : (float) topP, seed, stop, logprobsAsked ? Math.max(1, logprobs) : 0, false);
        } catch (UserInputException e) {
            throw ApiException.badRequest(e.getMessage(), null);
        }
    }

    private static List<int[]> prompts(JsonNode p, Function<String, int[]> encode, int context, int vocab) {
        if (p == null || p.isNull()) {
            throw ApiException.badRequest("you must provide a prompt", "prompt");
        }
        List<int[]> out = new ArrayList<>();
        if (p.isTextual()) {
            out.add(encode.apply(p.asText()));
        } else if (p.isArray()) {
            if (p.isEmpty()) {
                throw ApiException.badRequest("prompt must not be an empty list", "prompt");
            }
            if (p.get(0).isIntegralNumber()) {
                out.add(ids(p, vocab));
            } else {
                for (JsonNode e : p) {
                    if (e.isTextual()) {
                        out.add(encode.apply(e.asText()));
                    } else if (e.isArray() && !e.isEmpty() && e.get(0).isIntegralNumber()) {
                        out.add(ids(e, vocab));
                    } else {
                        throw ApiException.badRequest("prompt must be a string, a list of strings, a list of token ids or"
                                + " a list of lists of token ids", "prompt");
                    }
                }
            }
        } else {
            throw ApiException.badRequest("prompt must be a string, a list of strings, a list of token ids or a list of"
                    + " lists of token ids", "prompt");
        }
        if (out.size() > MAX_PROMPTS) {
            throw ApiException.badRequest("at most " + MAX_PROMPTS + " prompts per request, got " + out.size(), "prompt");
        }
        for (int i = 0; i < out.size(); i++) {
            String which = out.size() > 1 ? " (prompt " + i + ")" : "";
            if (out.get(i).length == 0) {
                throw ApiException.badRequest("the prompt has no tokens" + which, "prompt");
            }
            checkLength(out.get(i).length, context, which, "prompt");
        }
        return out;
    }

    /** OpenAI's 400 for a prompt longer than the context (the message gives both lengths). */
    static void checkLength(int n, int context, String which, String param) {
        if (n > context) {
            throw new ApiException(400, "invalid_request_error", "This model's maximum context length is " + context
                    + " tokens, however you requested " + n + " tokens in the prompt" + which + ". Please reduce the"
                    + " length of the prompt.", param, "context_length_exceeded");
        }
    }

    private static int[] ids(JsonNode list, int vocab) {
        int[] ids = new int[list.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode t = list.get(i);
            if (!t.isIntegralNumber() || !t.canConvertToInt() || t.asInt() < 0 || t.asInt() >= vocab) {
                throw ApiException.badRequest("token ids in prompt must be integers in [0, " + vocab + "), got " + t, "prompt");
            }
            ids[i] = t.asInt();
        }
        return ids;
    }

    static List<String> stops(JsonNode s) {
        List<String> out = new ArrayList<>();
        if (s == null || s.isNull()) {
            return out;
        }
        if (s.isTextual()) {
            out.add(s.asText());
        } else if (s.isArray()) {
            for (JsonNode e : s) {
                if (!e.isTextual()) {
                    throw ApiException.badRequest("stop must be a string or a list of strings", "stop");
                }
                out.add(e.asText());
            }
        } else {
            throw ApiException.badRequest("stop must be a string or a list of strings", "stop");
        }
        if (out.size() > MAX_STOPS) {
            throw ApiException.badRequest("at most " + MAX_STOPS + " stop strings, got " + out.size(), "stop");
        }
        for (String t : out) {
            if (t.isEmpty()) {
                throw ApiException.badRequest("stop strings must not be empty", "stop");
            }
        }
        return out;
    }

    static long integer(JsonNode body, String field, long def, long min, long max) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return def;
        }
        if (!v.isIntegralNumber() && !(v.isNumber() && v.asDouble() == Math.rint(v.asDouble()))) {
            throw ApiException.badRequest(field + " must be an integer, got " + v, field);
        }
        double d = v.asDouble();
        if (d < min || d > max) {
            throw ApiException.badRequest(field + " must be " + (max == Long.MAX_VALUE ? "at least " + min
                    : "between " + min + " and " + max) + ", got " + v, field);
        }
        return v.canConvertToLong() ? v.asLong() : max;
    }

    static double number(JsonNode body, String field, double def, double min, double max) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return def;
        }
        if (!v.isNumber()) {
            throw ApiException.badRequest(field + " must be a number, got " + v, field);
        }
        double d = v.asDouble();
        if (!(d >= min && d <= max)) {
            throw ApiException.badRequest(field + " must be " + (min == Double.MIN_VALUE ? "above 0" : "at least " + trim(min))
                    + " and at most " + trim(max) + ", got " + v, field);
        }
        return d;
    }

    private static String trim(double d) {
        return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d);
    }

    static boolean bool(JsonNode body, String field, boolean def) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return def;
        }
        if (!v.isBoolean()) {
            throw ApiException.badRequest(field + " must be true or false, got " + v, field);
        }
        return v.asBoolean();
    }

    static void neutral(JsonNode body, String field, int value) {
        long v = integer(body, field, value, 1, Integer.MAX_VALUE);
        if (v != value) {
            throw ApiException.badRequest(field + " must be " + value + " on this server, got " + v, field);
        }
    }
}
