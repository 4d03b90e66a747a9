package dev.dynalora.training;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.dynalora.UserInputException;
import dev.dynalora.formats.AtomicFiles;
import dev.dynalora.formats.SafetensorsReader;
import dev.dynalora.formats.SafetensorsWriter;
import dev.dynalora.tensor.Param;
import dev.dynalora.tensor.Tensor;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The files of a run folder: run_config.json (the resolved configuration), metrics.jsonl (one JSON object
 * per line: train steps, evaluations, summary), allocation.jsonl (adaptive methods), trainable.safetensors
 * (every trained tensor under its internal name, for eval and predict) and the PEFT adapter files.
 */
public final class RunFolder {
    public static final String CONFIG = "run_config.json";
    public static final String METRICS = "metrics.jsonl";
    public static final String ALLOCATION = "allocation.jsonl";
    public static final String TRAINABLE = "trainable.safetensors";

    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    static final ObjectMapper JSON_LINE = new ObjectMapper();

    private final Path dir;

    public RunFolder(Path dir) {
        this.dir = dir;
    }

    public Path dir() {
        return dir;
    }

    /** Creates the folder; an existing non-empty folder is refused unless overwrite, so no run is clobbered. */
    public static RunFolder create(Path dir, boolean overwrite) {
        try {
            if (Files.exists(dir) && !Files.isDirectory(dir)) {
                throw new UserInputException("--out " + dir + " exists and is not a folder");
            }
            if (Files.isDirectory(dir)) {
                boolean empty;
                try (Stream<Path> s = Files.list(dir)) {
                    empty = s.findAny().isEmpty();
                }
                if (!empty && !overwrite) {
                    throw new UserInputException("run folder " + dir + " already exists and is not empty; choose another --out or pass --overwrite");
                }
                if (!empty) {
                    for (String f : List.of(CONFIG, METRICS, ALLOCATION, TRAINABLE, "adapter_config.json", "adapter_model.safetensors")) {
                        Files.deleteIfExists(dir.resolve(f));
                    }
                }
            }
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UserInputException("cannot create run folder " + dir + ": " + e.getMessage());
        }
        return new RunFolder(dir);
    }

    public static RunFolder open(Path dir) {
        if (!Files.isRegularFile(dir.resolve(CONFIG))) {
            throw new UserInputException(dir + " is not a dynalora run folder (no " + CONFIG + ")");
        }
        return new RunFolder(dir);
    }

    public void writeConfig(TrainConfig c) {
        try {
            AtomicFiles.writeString(dir.resolve(CONFIG), JSON.writeValueAsString(c) + "\n");
        } catch (IOException e) {
            throw new UserInputException("cannot write " + dir.resolve(CONFIG) + ": " + e.getMessage());
        }
    }

    public TrainConfig readConfig() {
        Path f = dir.resolve(CONFIG);
        try {
            TrainConfig c = JSON.readValue(f.toFile(), TrainConfig.class);
            c.validate();
            return c;
        } catch (IOException e) {
            throw new UserInputException(f + " is not a valid run configuration: " + e.getMessage().split("\n")[0]);
        }
    }

    /** Appends one JSON line and flushes it, so a killed run keeps every line written so far. */
    public void append(String file, Object record) {
        try (BufferedWriter w = Files.newBufferedWriter(dir.resolve(file), StandardCharsets.UTF_8,
                StandardOpenOption.CREATE, StandardOpenOption.APPEND)) {
            w.write(JSON_LINE.writeValueAsString(record));
            w.write('\n');
        } catch (IOException e) {
            throw new UserInputException("cannot write " + dir.resolve(file) + ": " + e.getMessage());
        }
    }

    public void saveTrainable(List<Param> params) {
        Map<String, Tensor> m = new LinkedHashMap<>();
        for (Param p : params) {
            m.put(p.name(), p.value());
        }
        SafetensorsWriter.write(dir.resolve(TRAINABLE), m);
    }

    /** Loads the trained values into params (by name); every param must be present with its shape. */
    public void loadTrainable(List<Param> params) {
        Path f = dir.resolve(TRAINABLE);
        if (!Files.isRegularFile(f)) {
            throw new UserInputException(dir + " has no " + TRAINABLE + " (was the run finished?)");
        }
        try (SafetensorsReader r = SafetensorsReader.open(f)) {
            for (Param p : params) {
                Tensor t = r.readChecked(p.name(), p.value().shape());
                System.arraycopy(t.data(), 0, p.data(), 0, p.value().size());
            }
        }
    }
}
