package dev.dynalora.data;

import org.junit.jupiter.api.Assumptions;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Locates the real GLUE download for tests: {@code ${dynalora.shared}/glue} (set by the parent pom), else a
 * {@code shared/glue} beside the checkout found by walking up from the working directory (surefire runs in the
 * module folder, IDEs often in the repo root). Tests needing it are skipped, not failed, where it is absent:
 * the data is never copied into the repository.
 */
final class SharedGlue {
    private SharedGlue() {
    }

    static Path dir() {
        String prop = System.getProperty("dynalora.shared");
        if (prop != null && Files.isDirectory(Path.of(prop, "glue"))) {
            return Path.of(prop, "glue");
        }
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path candidate = p.resolve("shared").resolve("glue");
            if (Files.isDirectory(candidate)) {
                return candidate;
            }
        }
        Assumptions.abort("GLUE data not found (set -Ddynalora.shared=<dir containing glue/>)");
        return null;
    }
}
