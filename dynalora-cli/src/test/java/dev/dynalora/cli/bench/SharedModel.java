package dev.dynalora.cli.bench;

import java.nio.file.Files;
import java.nio.file.Path;

/** ../shared beside the checkout (or -Ddynalora.shared), as CliRunner finds it for the command tests. */
final class SharedModel {
    private SharedModel() {
    }

    static Path shared() {
        String p = System.getProperty("dynalora.shared");
        if (p != null && Files.isDirectory(Path.of(p))) {
            return Path.of(p).toAbsolutePath().normalize();
        }
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            if (Files.isDirectory(d.resolveSibling("shared").resolve("models"))) {
                return d.resolveSibling("shared");
            }
        }
        throw new IllegalStateException("cannot find ../shared");
    }

    static Path miniLm() {
        return shared().resolve("models/all-MiniLM-L6-v2");
    }
}
