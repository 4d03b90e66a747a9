package dev.dynalora.fuzz;

import org.junit.jupiter.api.Test;

import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The seed corpora must stay valid inputs (written by {@link FuzzSeeds}): a seed that a format change turned
 * into an error would leave the fuzzer starting from nothing but error paths, silently. A few seeds are
 * meant to fail and are listed here.
 */
class FuzzSeedsTest {
    static final Path ROOT = Path.of("src/test/resources/dev/dynalora/fuzz");
    /** Seeds that exercise an error path on purpose. */
    static final Set<String> EXPECTED_ERRORS = Set.of(
            "SafetensorsFuzzTestInputs/file/seed-c64",          // C64 cannot be converted to float32
            "SafetensorsFuzzTestInputs/header/seed-c64",
            "PeftAdapterFuzzTestInputs/config/seed-adalora.json"); // AdaLoRA config beside LoRA weights

    @Test
    void seedsAreValidInputs() throws Exception {
        List<String> seen = new ArrayList<>();
        List<Path> seeds;
        try (var s = Files.walk(ROOT)) {
            seeds = s.filter(p -> Files.isRegularFile(p) && p.getFileName().toString().startsWith("seed-")).sorted().toList();
        }
        for (Path p : seeds) {
            String rel = ROOT.relativize(p).toString().replace('\\', '/');
            String[] parts = rel.split("/");
            Class<?> c = Class.forName("dev.dynalora.fuzz." + parts[0].replace("Inputs", ""));
            Method m = c.getDeclaredMethod(parts[1], byte[].class);
            m.setAccessible(true);
            var ctor = c.getDeclaredConstructor();
            ctor.setAccessible(true);
            m.invoke(ctor.newInstance(), (Object) Files.readAllBytes(p));
            String error = FuzzSupport.LAST_ERROR.get();
            if (EXPECTED_ERRORS.contains(rel)) {
                assertNotNull(error, rel + " should fail");
            } else {
                assertEquals(null, error, rel + " should be a valid input");
            }
            seen.add(rel);
        }
        assertTrue(seen.size() >= 20, "seed corpora missing: " + seen);
    }
}
