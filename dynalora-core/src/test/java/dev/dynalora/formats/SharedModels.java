package dev.dynalora.formats;

import dev.dynalora.SharedData;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The real model folders shared beside the checkout (located by {@link SharedData}: the dynalora.shared
 * system property surefire sets, else ../shared). Never copy these files into the repository.
 */
public final class SharedModels {
    private SharedModels() {
    }

    /** A model folder under shared/models, failing clearly (not with a confusing error later) if absent. */
    public static Path model(String name) {
        Path dir = SharedData.model(name);
        assertTrue(Files.isDirectory(dir), "shared model folder missing: " + dir
                + " (set -Ddynalora.shared to the folder holding models/)");
        return dir;
    }
}
