package dev.dynalora.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.dynalora.UserInputException;
import dev.dynalora.data.TextFiles;
import dev.dynalora.formats.FormatErrors;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * generate's input: JSON Lines, one object per line with a string "prompt" (other keys are ignored). Blank
 * lines are skipped; any other line that is not such an object is refused with its line number, before any
 * generation starts.
 */
public final class PromptsFile {
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS).build();

    /** A prompt and the line it came from (1-based), for messages. */
    public record Prompt(String text, int line) {
    }

    private PromptsFile() {
    }

    public static List<Prompt> read(Path file) {
        List<String> lines = TextFiles.readUtf8Lines(file);
        List<Prompt> prompts = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isBlank()) {
                continue;
            }
            String where = file + " line " + (i + 1);
            JsonNode node;
            try {
                node = JSON.readTree(line);
            } catch (JsonProcessingException e) {
                // The line alone was parsed: Jackson's "line 1" would only confuse, so give the column.
                String at = e.getLocation() != null && e.getLocation().getColumnNr() > 0
                        ? " at column " + e.getLocation().getColumnNr() : "";
                throw new UserInputException(where + ": not valid JSON: " + FormatErrors.oneLine(
                        String.valueOf(e.getOriginalMessage())) + at);
            }
            if (node == null || !node.isObject()) {
                throw new UserInputException(where + ": expected a JSON object such as {\"prompt\": \"Once upon a time\"}");
            }
            JsonNode p = node.get("prompt");
            if (p == null) {
                throw new UserInputException(where + ": no \"prompt\" key");
            }
            if (!p.isTextual()) {
                throw new UserInputException(where + ": \"prompt\" must be a string, got " + p.getNodeType().toString().toLowerCase());
            }
            prompts.add(new Prompt(p.textValue(), i + 1));
        }
        if (prompts.isEmpty()) {
            throw new UserInputException(file + ": no prompts (expected one JSON object with a \"prompt\" per line)");
        }
        return prompts;
    }
}
