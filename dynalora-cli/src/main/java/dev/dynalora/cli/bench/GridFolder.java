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
 * with the same settings (a table mixing runs trained differently would be wrong without saying so), or grown to
 * more seeds with otherwise the same settings; any other non-empty folder is refused, so that nothing of someone
 * else's is overwritten.
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
            if (moreSeeds(saved, s)) {
                // More seeds of the same grid: the runs there are runs of this one; the grid grows.
                AtomicFiles.writeString(cfg, s.toJsonText());
                return;
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

    /**
     * Whether the saved grid differs from these settings only in having fewer seeds: seeds are numbered 1..N, so
     * its runs are the first seeds of this grid (how a grid goes from 3 seeds to 5 where two methods are close).
     */
    static boolean moreSeeds(JsonNode saved, GridSettings s) {
        if (!saved.isObject() || !saved.path("seeds").isInt() || saved.get("seeds").asInt() >= s.seeds()) {
            return false;
        }
        com.fasterxml.jackson.databind.node.ObjectNode same = ((com.fasterxml.jackson.databind.node.ObjectNode) saved).deepCopy();
        same.put("seeds", s.seeds());
        return s.differenceFrom(same).isEmpty();
    }

    private static boolean isEmpty(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.findAny().isEmpty();
        } catch (IOException e) {
            throw new UserInputException("cannot read " + dir + ": " + e.getMessage());
        }
    }
}
