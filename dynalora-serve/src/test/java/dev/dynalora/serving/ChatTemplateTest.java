package dev.dynalora.serving;

import dev.dynalora.UserInputException;
import dev.dynalora.generation.PromptTokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Chat templates as transformers renders them (variables, trimming, raise_exception), where they come from, how the
 * rendered text becomes token ids (the template's own BOS, none added), and chat request bodies' checks.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class ChatTemplateTest {
    @TempDir
    static Path tmp;
    static PromptTokenizer tokenizer;
    static Path llama2;
    static Path chatml;

    static final List<Map<String, Object>> CONVERSATION = List.of(
            Map.of("role", "system", "content", "Be brief."),
            Map.of("role", "user", "content", "Hi there"),
            Map.of("role", "assistant", "content", " Hello! "),
            Map.of("role", "user", "content", "Tell a story"));

    @BeforeAll
    static void load() {
        tokenizer = PromptTokenizer.load(TestAdapters.shared("stories260K"), 1);
        llama2 = ChatModels.withTemplate("stories260K", tmp.resolve("llama2"), ChatModels.LLAMA2);
        chatml = ChatModels.withTemplate("stories260K", tmp.resolve("chatml"), ChatModels.CHATML);
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    private static ChatTemplate template(String dir, Object chatTemplate) {
        return ChatTemplate.load(ChatModels.withTemplate("stories260K", tmp.resolve(dir), chatTemplate), null);
    }

    @Test
    void llama2TurnsWithSystemPromptBosAndEos() {
        String out = ChatTemplate.load(llama2, null).render(CONVERSATION);
        assertEquals("<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi there [/INST] Hello! </s><s>[INST] Tell a story [/INST]", out);
    }

    @Test
    void chatmlEndsWithTheGenerationPromptAndDropsTheFilesTrailingNewline() {
        String out = ChatTemplate.load(chatml, null).render(CONVERSATION);
        assertEquals("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n"
                + "<|im_start|>assistant\n Hello! <|im_end|>\n<|im_start|>user\nTell a story<|im_end|>\n<|im_start|>assistant\n", out);
    }

    @Test
    void zephyrsNewlinesAsTrimBlocksLeavesThem() {
        // TinyLlama's (Zephyr's) template; the expected text is what transformers' docs show apply_chat_template give.
        String zephyr = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + message['content']"
                + " + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + message['content'] + eos_token }}\n"
                + "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif %}\n"
                + "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";
        assertEquals("<|system|>\nYou are a pirate</s>\n<|user|>\nHow many helicopters?</s>\n<|assistant|>\n",
                template("zephyr", zephyr).render(List.of(Map.of("role", "system", "content", "You are a pirate"),
                        Map.of("role", "user", "content", "How many helicopters?"))));
    }

    @Test
    void theTemplatesBosIsTheOnlyBos() {
        ChatTemplate t = ChatTemplate.load(llama2, null);
        String one = t.render(List.of(Map.of("role", "user", "content", "Once upon a time")));
        assertEquals("<s>[INST] Once upon a time [/INST]", one);
        int[] ids = tokenizer.encodeVerbatim(one);
        assertEquals(1, ids[0], Arrays.toString(ids));
        assertEquals(1, Arrays.stream(ids).filter(id -> id == 1).count(), "exactly one BOS: " + Arrays.toString(ids));
        // What generate gives the text without its "<s>" (generate adds the BOS itself): the same ids.
        assertArrayEquals(tokenizer.encode(one.substring(3)), ids);
        // Encoding with special tokens would have doubled it: the reason chat prompts are encoded verbatim.
        assertArrayEquals(new int[] {1, 1}, Arrays.copyOf(tokenizer.encode(one), 2));

        int[] turns = tokenizer.encodeVerbatim(t.render(CONVERSATION));
        assertEquals(2, Arrays.stream(turns).filter(id -> id == 1).count(), "a BOS per user turn: " + Arrays.toString(turns));
        assertEquals(1, Arrays.stream(turns).filter(id -> id == 2).count(), "an EOS after the answer: " + Arrays.toString(turns));
        assertEquals(1, turns[0]);
        assertTrue(turns[1] != 1);

        // Without {{ bos_token }} in the template, nothing adds one (add_bos_token notwithstanding), as in transformers.
        int[] noBos = tokenizer.encodeVerbatim(ChatTemplate.load(chatml, null).render(CONVERSATION));
        assertFalse(Arrays.stream(noBos).anyMatch(id -> id == 1), Arrays.toString(noBos));
    }

    @Test
    void messagesAreTextNotTemplateCode() {
        String content = "{{ 7 * 7 }} {% for i in range(3) %}x{% endfor %} {{ raise_exception('no') }} {# note #}";
        assertEquals("<s>[INST] " + content + " [/INST]", ChatTemplate.load(llama2, null).render(List.of(
                Map.of("role", "user", "content", content))));
    }

    @Test
    void raiseExceptionIsA400WithTheTemplatesMessage() {
        ChatTemplate t = ChatTemplate.load(llama2, null);
        ApiException e = assertThrows(ApiException.class, () -> t.render(List.of(
                Map.of("role", "user", "content", "a"), Map.of("role", "user", "content", "b"))));
        assertEquals(400, e.status());
        assertEquals("Conversation roles must alternate user/assistant/user/assistant/...", e.getMessage());
        assertEquals("messages", e.param());
    }

    @Test
    void aTemplateErrorIsA400WithTheReason() {
        ApiException e = assertThrows(ApiException.class, () -> template("broken", "{% for m in messages %}{{ m.content }}")
                .render(CONVERSATION));
        assertEquals(400, e.status());
        assertTrue(e.getMessage().startsWith("the chat template (") && e.getMessage().contains("endfor"), e.getMessage());
        ApiException call = assertThrows(ApiException.class, () -> template("unknown-fn", "{{ no_such_function(1) }}")
                .render(CONVERSATION));
        assertTrue(call.getMessage().contains("no_such_function"), call.getMessage());
    }

    @Test
    void whereTheTemplateComesFrom() throws IOException {
        assertEquals("default:Hi there", template("named", ChatModels.named("default", "default:{{ messages[1].content }}"))
                .render(CONVERSATION));
        ChatTemplate noDefault = template("no-default", ChatModels.named("rag", "x"));
        assertFalse(noDefault.available());
        assertTrue(noDefault.missing().contains("\"default\""), noDefault.missing());

        ChatTemplate none = template("none", null);
        assertFalse(none.available());
        assertEquals("the model has no chat template (tokenizer_config.json has no chat_template); start the server with"
                + " --chat-template FILE", none.missing());
        ApiException e = assertThrows(ApiException.class, () -> none.render(CONVERSATION));
        assertEquals(400, e.status());

        // A file given at start wins over the folder's, and so does chat_template.jinja beside tokenizer_config.json.
        Path file = Files.writeString(tmp.resolve("override.jinja"), "file:{{ messages | length }}\n");
        assertEquals("file:4", ChatTemplate.load(llama2, file).render(CONVERSATION));
        Path jinja = ChatModels.withTemplate("stories260K", tmp.resolve("jinja"), ChatModels.LLAMA2);
        Files.writeString(jinja.resolve(ChatTemplate.JINJA_FILE), "jinja:{{ bos_token }}{{ eos_token }}");
        assertEquals("jinja:<s></s>", ChatTemplate.load(jinja, null).render(CONVERSATION));

        UserInputException missing = assertThrows(UserInputException.class, () -> ChatTemplate.load(llama2,
                tmp.resolve("gone.jinja")));
        assertTrue(missing.getMessage().startsWith("--chat-template ") && missing.getMessage().contains("no such file"),
                missing.getMessage());
        Path empty = Files.writeString(tmp.resolve("empty.jinja"), "\n");
        assertThrows(UserInputException.class, () -> ChatTemplate.load(llama2, empty));
    }

    @Test
    void specialTokensWrittenAsObjects() throws IOException {
        Path dir = ChatModels.withTemplate("stories260K", tmp.resolve("objects"), "{{ bos_token }}|{{ eos_token }}");
        Path config = dir.resolve(ChatTemplate.CONFIG_FILE);
        var c = (com.fasterxml.jackson.databind.node.ObjectNode) Http.JSON.readTree(config.toFile());
        c.set("bos_token", Http.JSON.readTree("{\"content\": \"<s>\", \"lstrip\": false, \"special\": true}"));
        c.set("eos_token", Http.JSON.readTree("{\"content\": \"</s>\"}"));
        Files.writeString(config, c.toString());
        assertEquals("<s>|</s>", ChatTemplate.load(dir, null).render(CONVERSATION));
    }

    // ------------------------------------------------------------------------------------------------
    // Request bodies
    // ------------------------------------------------------------------------------------------------

    private static CompletionRequest parse(String body) throws IOException {
        ChatTemplate t = ChatTemplate.load(chatml, null);
        return ChatRequest.parse(Http.JSON.readTree(body), t, tokenizer::encodeVerbatim, 512);
    }

    private static ApiException refused(String body) {
        return assertThrows(ApiException.class, () -> parse(body));
    }

    @Test
    void aRequestBecomesOnePromptPerChoice() throws IOException {
        CompletionRequest r = parse("{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\","
                + " \"text\": \"Hi\"}, {\"type\": \"text\", \"text\": \"there\"}]}], \"n\": 3, \"max_completion_tokens\": 7,"
                + " \"max_tokens\": 99, \"logprobs\": true, \"top_logprobs\": 2, \"temperature\": 0.5, \"seed\": 4}");
        int[] want = tokenizer.encodeVerbatim("<|im_start|>user\nHi\nthere<|im_end|>\n<|im_start|>assistant\n");
        assertEquals(3, r.prompts.size());
        for (int[] p : r.prompts) {
            assertArrayEquals(want, p);
        }
        assertEquals(want.length, r.promptTokens);
        assertEquals(7, r.config.maxNewTokens());
        assertTrue(r.logprobsAsked);
        assertEquals(2, r.logprobs);
        assertEquals(4L, r.config.seed());
        CompletionRequest plain = parse("{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}");
        assertEquals(512, plain.config.maxNewTokens(), "no max_tokens: the rest of the context");
        assertFalse(plain.logprobsAsked);
        assertEquals(1, plain.prompts.size());
    }

    @Test
    void badBodiesAre400sNamingTheField() {
        ApiException image = refused("{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\","
                + " \"image_url\": {\"url\": \"http://x/y.png\"}}]}]}");
        assertEquals(400, image.status());
        assertEquals("messages", image.param());
        assertTrue(image.getMessage().contains("\"image_url\"") && image.getMessage().contains("text"), image.getMessage());
        assertEquals("messages", refused("{\"model\": \"m\"}").param());
        assertEquals("messages", refused("{\"model\": \"m\", \"messages\": []}").param());
        assertTrue(refused("{\"model\": \"m\", \"messages\": [{\"role\": \"tool\", \"content\": \"x\"}]}").getMessage().contains("role"));
        assertTrue(refused("{\"model\": \"m\", \"messages\": [{\"role\": \"user\"}]}").getMessage().contains("content"));
        assertTrue(refused("{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": 5}]}").getMessage().contains("content"));
        assertEquals("model", refused("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}").param());
        String ok = "\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]";
        assertEquals("top_logprobs", refused("{" + ok + ", \"top_logprobs\": 2}").param());
        assertEquals("top_logprobs", refused("{" + ok + ", \"logprobs\": true, \"top_logprobs\": 21}").param());
        assertEquals("logprobs", refused("{" + ok + ", \"logprobs\": 3}").param());
        assertEquals("n", refused("{" + ok + ", \"n\": 0}").param());
        assertEquals("max_completion_tokens", refused("{" + ok + ", \"max_completion_tokens\": 0}").param());
        assertEquals("temperature", refused("{" + ok + ", \"temperature\": 9}").param());
        assertEquals("stop", refused("{" + ok + ", \"stop\": 1}").param());
        assertEquals("tools", refused("{" + ok + ", \"tools\": [{\"type\": \"function\"}]}").param());
        assertEquals("response_format", refused("{" + ok + ", \"response_format\": {\"type\": \"json_object\"}}").param());
        ApiException longOne = refused("{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \""
                + "Once upon a time ".repeat(200) + "\"}]}");
        assertEquals("context_length_exceeded", longOne.code());
    }
}
