package dev.dynalora.cli.bench;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Finding a benchmark's result line among whatever else the program prints. */
class JsonLineTest {
    @Test
    void takesTheLastObjectLineAndIgnoresNoise() {
        String out = """
                /usr/lib/python3/dist-packages/torch/__init__.py:123: UserWarning: something
                {"engine": "warm-up", "ms_per_step": 1}
                {'engine': 'python dict, not JSON'}
                [1, 2, 3]
                  {"engine": "pytorch-eager", "mode": "train", "ms_per_step": 6636.1, "tokens_per_s": 617.3}\r
                done {not json}
                """;
        var o = JsonLine.last(out).orElseThrow();
        assertEquals("pytorch-eager", o.get("engine").asText());
        assertEquals(617.3, o.get("tokens_per_s").asDouble());
    }

    @Test
    void noObjectLineIsEmpty() {
        assertTrue(JsonLine.last("").isEmpty());
        assertTrue(JsonLine.last("Traceback (most recent call last):\n  File \"x.py\"\n{broken\n").isEmpty());
        assertTrue(JsonLine.last("[{\"a\": 1}]\n").isEmpty());
    }
}
