package dev.dynalora.serving;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import dev.dynalora.UserInputException;
import dev.dynalora.formats.FormatErrors;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A model's chat template: the Jinja text that turns a conversation into the prompt the model was tuned on,
 * rendered (by Jinjava) as transformers' apply_chat_template renders it: the variables {@code messages} (each
 * {role, content}), {@code add_generation_prompt} (true: the prompt ends where the assistant's answer starts),
 * {@code bos_token} and {@code eos_token} (tokenizer_config.json's strings) and the function
 * {@code raise_exception(msg)}; Jinja's trim_blocks and lstrip_blocks on; one trailing newline of the template
 * dropped, as Jinja drops it.
 *
 * <p>Where it comes from, first found: the file given at start (vLLM's --chat-template); the model folder's
 * chat_template.jinja (where newer transformers save it); tokenizer_config.json's chat_template (a string, or a
 * list of {name, template} of which "default" is used). Without one, {@link #missing} says why, and a chat request
 * is refused with that reason.
 *
 * <p>Jinjava is not Python's Jinja: Python string methods other than the common ones ({@code strip},
 * {@code upper}...) and slices with a step ({@code messages[::-1]}) are template errors, answered 400 with the
 * reason. Safe for concurrent renders (each gets its own interpreter).
 */
final class ChatTemplate {
    static final String CONFIG_FILE = "tokenizer_config.json";
    static final String JINJA_FILE = "chat_template.jinja";
    /** A rendered prompt this long is a runaway template, not a conversation (the request body is 1 MiB by default). */
    private static final long MAX_OUTPUT_CHARS = 16L << 20;

    private final String template;     // null: none
    private final String missing;      // why there is none
    private final String origin;       // where it came from, for error messages
    private final String bosToken;
    private final String eosToken;
    private final Jinjava jinjava;

    private ChatTemplate(String template, String missing, String origin, String bosToken, String eosToken) {
        this.template = template;
        this.missing = missing;
        this.origin = origin;
        this.bosToken = bosToken;
        this.eosToken = eosToken;
        this.jinjava = template == null ? null : newJinjava();
    }

    /** What raise_exception throws: the template's own message for the client. */
    static final class Raised extends RuntimeException {
        Raised(String message) {
            super(message, null, false, false);
        }
    }

    /** raise_exception(msg), called by templates to refuse a conversation (roles that do not alternate...). */
    public static void raiseException(String message) {
        throw new Raised(message);
    }

    private static Jinjava newJinjava() {
        Jinjava j = new Jinjava(JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withMaxOutputSize(MAX_OUTPUT_CHARS)
                // Jinjava would otherwise render a variable's value again when it looks like a template: a message
                // "{{ ... }}" would run as template code. Jinja prints values as they are.
                .withNestedInterpretationEnabled(false)
                // Jinja's own semantics where Jinjava's defaults differ: {%- -%} and {{- -}} trim as Jinja trims them.
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withParseWhitespaceControlStrictly(true)
                        .withUseTrimmingForNotesAndExpressions(true)
                        .withKeepNullableLoopValues(true)
                        .build())
                .build());
        j.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", ChatTemplate.class,
                "raiseException", String.class));
        return j;
    }

    /**
     * The template for the model in modelDir, or the one in {@code file} when not null (its absence or a bad file
     * is a {@link UserInputException}); the result may be {@link #available() unavailable}, with the reason.
     */
    static ChatTemplate load(Path modelDir, Path file) {
        JsonNode config = readConfig(modelDir.resolve(CONFIG_FILE));
        String bos = specialToken(config, "bos_token");
        String eos = specialToken(config, "eos_token");
        if (file != null) {
            return new ChatTemplate(readTemplate(file, "--chat-template " + file), null, file.toString(), bos, eos);
        }
        Path jinja = modelDir.resolve(JINJA_FILE);
        if (Files.isRegularFile(jinja)) {
            return new ChatTemplate(readTemplate(jinja, jinja.toString()), null, jinja.toString(), bos, eos);
        }
        String origin = modelDir.resolve(CONFIG_FILE).toString();
        JsonNode t = config == null ? null : config.get("chat_template");
        String missing;
        if (t == null || t.isNull()) {
            missing = "the model has no chat template (" + (config == null ? "there is no " + CONFIG_FILE
                    : CONFIG_FILE + " has no chat_template") + ")";
        } else if (t.isTextual()) {
            return new ChatTemplate(dropTrailingNewline(t.asText()), null, origin, bos, eos);
        } else if (t.isArray()) {
            for (JsonNode named : t) {
                if ("default".equals(named.path("name").asText(null)) && named.path("template").isTextual()) {
                    return new ChatTemplate(dropTrailingNewline(named.path("template").asText()), null, origin, bos, eos);
                }
            }
            missing = "the model has no default chat template (" + CONFIG_FILE + "'s chat_template lists no template"
                    + " named \"default\")";
        } else {
            throw new UserInputException(origin + ": \"chat_template\" must be a string or a list of {\"name\","
                    + " \"template\"} objects");
        }
        return new ChatTemplate(null, missing + "; start the server with --chat-template FILE", null, bos, eos);
    }

    boolean available() {
        return template != null;
    }

    /** Why there is no template (null when there is one). */
    String missing() {
        return missing;
    }

    /**
     * The prompt for a conversation, ending with the assistant's turn opened (add_generation_prompt).
     *
     * @param messages each a map with "role" and "content" (strings) and perhaps "name"
     * @throws ApiException 400 with the template's message when it calls raise_exception, or the reason when the
     *     template fails
     */
    String render(List<Map<String, Object>> messages) {
        if (template == null) {
            throw ApiException.badRequest(missing, null);
        }
        Map<String, Object> vars = new HashMap<>();
        vars.put("messages", messages);
        vars.put("add_generation_prompt", true);
        if (bosToken != null) {
            vars.put("bos_token", bosToken);
        }
        if (eosToken != null) {
            vars.put("eos_token", eosToken);
        }
        RenderResult r;
        try {
            r = jinjava.renderForResult(template, vars);
        } catch (Raised e) {
            throw ApiException.badRequest(e.getMessage(), "messages");
        } catch (RuntimeException e) {
            throw failed(e.getMessage());
        }
        // Jinjava records errors and goes on rendering: any fatal one (raise_exception's first) voids the output.
        TemplateError first = null;
        for (TemplateError e : r.getErrors()) {
            if (e.getSeverity() != TemplateError.ErrorType.FATAL) {
                continue;
            }
            for (Throwable c = e.getException(); c != null; c = c.getCause()) {
                if (c instanceof Raised raised) {
                    throw ApiException.badRequest(raised.getMessage(), "messages");
                }
            }
            if (first == null) {
                first = e;
            }
        }
        if (first != null) {
            throw failed(first.getMessage() + (first.getLineno() > 0 ? " (line " + first.getLineno() + ")" : ""));
        }
        return r.getOutput();
    }

    private ApiException failed(String reason) {
        return ApiException.badRequest("the chat template (" + origin + ") failed on these messages: " + reason, "messages");
    }

    /** Jinja drops a template's one trailing newline (keep_trailing_newline is off in transformers); Jinjava keeps it. */
    static String dropTrailingNewline(String t) {
        if (t.endsWith("\r\n")) {
            return t.substring(0, t.length() - 2);
        }
        return t.endsWith("\n") ? t.substring(0, t.length() - 1) : t;
    }

    private static String readTemplate(Path file, String what) {
        if (!Files.isRegularFile(file)) {
            throw new UserInputException(what + ": " + (Files.exists(file) ? "not a file" : "no such file"));
        }
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (CharacterCodingException e) {
            throw new UserInputException(what + ": not valid UTF-8");
        } catch (IOException e) {
            throw new UserInputException(what + ": cannot read: " + FormatErrors.describe(e));
        }
        if (text.isBlank()) {
            throw new UserInputException(what + ": the chat template is empty");
        }
        return dropTrailingNewline(text);
    }

    private static JsonNode readConfig(Path file) {
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try {
            JsonNode n = new ObjectMapper().readTree(Files.readString(file, StandardCharsets.UTF_8));
            return n != null && n.isObject() ? n : null;
        } catch (IOException e) {
            throw new UserInputException(file + ": cannot read: " + FormatErrors.describe(e));
        }
    }

    /** A special token's text: a string, or an object with "content" (transformers' AddedToken). */
    private static String specialToken(JsonNode config, String key) {
        JsonNode t = config == null ? null : config.get(key);
        if (t != null && t.isObject()) {
            t = t.get("content");
        }
        return t != null && t.isTextual() ? t.asText() : null;
    }
}
