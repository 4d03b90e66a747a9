package dev.dynalora.fuzz;

import org.junit.jupiter.api.Tag;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.dynalora.formats.ModelConfig;

import java.nio.charset.StandardCharsets;

import static dev.dynalora.fuzz.FuzzSupport.allowUserError;

/**
 * Hostile config.json text through {@link ModelConfig#parse}. A config that parses must also survive its own
 * round trip ({@code toJson} read back gives the same sizes), since that is what a saved model folder holds.
 */
@Tag("slow")
class ModelConfigFuzzTest {
    @FuzzTest(maxDuration = "20s")
    void parse(byte[] data) {
        String json = new String(data, StandardCharsets.UTF_8);
        allowUserError(() -> {
            ModelConfig c = ModelConfig.parse(json, "fuzz/config.json");
            ModelConfig back = ModelConfig.parse(c.toJson().toString(), "round trip");
            if (!c.toString().replace(c.source(), "").equals(back.toString().replace(back.source(), ""))) {
                throw new AssertionError("round trip changed the config: " + c + " -> " + back);
            }
        });
    }
}
