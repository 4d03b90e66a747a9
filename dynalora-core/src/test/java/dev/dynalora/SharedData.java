package dev.dynalora;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Locates ../shared (models and GLUE data beside the checkout) for tests; never copied into the repo. */
public final class SharedData {
    private SharedData() {
    }

    public static Path root() {
        String p = System.getProperty("dynalora.shared");
        if (p != null && Files.isDirectory(Path.of(p))) {
            return Path.of(p).toAbsolutePath().normalize();
        }
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            Path s = d.resolveSibling("shared");
            if (Files.isDirectory(s.resolve("models"))) {
                return s.normalize();
            }
        }
        throw new IllegalStateException("cannot find ../shared (set -Ddynalora.shared)");
    }

    public static Path model(String name) {
        return root().resolve("models").resolve(name);
    }

    /**
     * A model folder under shared/models, or the calling test skipped (an assumption fails) when ../shared or
     * the model is not there.
     */
    public static Path modelOrSkip(String name) {
        Path dir;
        try {
            dir = model(name);
        } catch (IllegalStateException e) {
            assumeTrue(false, "no ../shared folder: " + e.getMessage());
            return null;
        }
        assumeTrue(Files.isDirectory(dir), "shared model folder missing: " + dir);
        return dir;
    }

    public static Path glue() {
        return root().resolve("glue");
    }
}
