package dev.dynalora.cli.bench;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.Optional;

/**
 * Finds the result line of a benchmark's standard output: the last line that is a whole JSON object. Whatever
 * else the program prints (warnings of a library, log lines, a progress message) is ignored.
 */
public final class JsonLine {
    private static final ObjectMapper JSON = new ObjectMapper();

    private JsonLine() {
    }

    public static Optional<ObjectNode> last(String stdout) {
        String[] lines = stdout.split("\\R");
        for (int i = lines.length - 1; i >= 0; i--) {
            String l = lines[i].strip();
            if (l.startsWith("{") && l.endsWith("}")) {
                try {
                    JsonNode n = JSON.readTree(l);
                    if (n instanceof ObjectNode o) {
                        return Optional.of(o);
                    }
                } catch (JsonProcessingException notJson) {
                    // A line that only looks like an object, e.g. a Python dict printed with single quotes.
                }
            }
        }
        return Optional.empty();
    }
}
