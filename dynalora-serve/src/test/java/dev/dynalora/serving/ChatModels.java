package dev.dynalora.serving;

import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Chat templates for the tests, and copies of a shared model folder that carry one (the shared models have none). */
final class ChatModels {
    /** Llama 2's chat template as its tokenizer_config.json has it (BOS before each user turn, EOS after each answer). */
    static final String LLAMA2 = "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
            + "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
            + "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
            + "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
            + "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
            + "{% if loop.index0 == 0 and system_message != false %}"
            + "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
            + "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
            + "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
            + "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

    /** ChatML (no BOS) as Qwen 2 writes it: one block a line, {%- and {{- trimming, and a file's trailing newline. */
    static final String CHATML = """
            {%- for message in messages %}
                {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}
            {%- endfor %}
            {%- if add_generation_prompt %}
                {{- '<|im_start|>assistant\\n' }}
            {%- endif %}
            """;

    private ChatModels() {
    }

    /**
     * A folder that reads as the shared model {@code name} (its files linked) with tokenizer_config.json's
     * chat_template set to {@code template} (a JSON value: a string or a list of named templates; null: none).
     */
    static Path withTemplate(String name, Path dir, Object template) {
        Path src = TestAdapters.shared(name);
        try {
            Files.createDirectories(dir);
            try (var files = Files.list(src)) {
                for (Path f : files.toList()) {
                    if (!f.getFileName().toString().equals(ChatTemplate.CONFIG_FILE)) {
                        Files.createSymbolicLink(dir.resolve(f.getFileName()), f.toAbsolutePath());
                    }
                }
            }
            ObjectNode config = (ObjectNode) Http.JSON.readTree(src.resolve(ChatTemplate.CONFIG_FILE).toFile());
            if (template != null) {
                config.set("chat_template", Http.JSON.valueToTree(template));
            }
            Files.writeString(dir.resolve(ChatTemplate.CONFIG_FILE), Http.JSON.writeValueAsString(config));
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A named-template list as tokenizer_config.json may hold it. */
    static List<Object> named(String name, String template) {
        return List.of(java.util.Map.of("name", "tool_use", "template", "{{ 'tools' }}"), java.util.Map.of("name", name, "template", template));
    }
}
