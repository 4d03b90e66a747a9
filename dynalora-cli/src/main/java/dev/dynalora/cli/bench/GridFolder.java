package dev.dynalora.cli.bench;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dynalora.UserInputException;
import dev.dynalora.formats.AtomicFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * The output folder of a grid. A new or empty folder gets grid_config.json; an existing grid is resumed only
 * with the same settings (a table mixing runs trained differently would be wrong without saying so); any other
 * non-empty folder is refused, so that nothing of someone else's is overwritten.
 */
public final class GridFolder {
    private GridFolder() {
    }

    public static void prepare(Path out, GridSettings s) {
        Path cfg = out.resolve(GridSettings.FILE);
        if (Files.exists(out) && !Files.isDirectory(out)) {
            throw new UserInputException("--out " + out + " exists and is not a folder");
        }
        if (Files.isRegularFile(cfg)) {
            JsonNode saved;
            try {
                saved = GridSettings.JSON.readTree(cfg.toFile());
            } catch (IOException e) {
                throw new UserInputException(cfg + " is not valid JSON (" + e.getMessage().split("\n")[0] + "); remove it or choose another --out");
            }
            s.differenceFrom(saved).ifPresent(d -> {
                throw new UserInputException(out + " holds a grid with other settings (" + d + "); resume it with the "
                        + "same flags, or choose another --out");
            });
            return;
        }
        if (Files.isDirectory(out) && !isEmpty(out)) {
            throw new UserInputException(out + " is not empty and has no " + GridSettings.FILE + "; choose another --out");
        }
        AtomicFiles.writeString(cfg, s.toJsonText());
    }

    private static boolean isEmpty(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.findAny().isEmpty();
        } catch (IOException e) {
            throw new UserInputException("cannot read " + dir + ": " + e.getMessage());
        }
    }
}
