package dev.dynalora.training;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.dynalora.ConfigException;
import dev.dynalora.Setting;
import dev.dynalora.UserInputException;
import dev.dynalora.UserMessage;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.formats.AtomicFiles;
import dev.dynalora.formats.SafetensorsReader;
import dev.dynalora.formats.SafetensorsWriter;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.AdaptableModel;
import dev.dynalora.tensor.Param;
import dev.dynalora.tensor.Tensor;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.channels.FileChannel;
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
 * (every trained tensor under its internal name, for eval and predict), the PEFT adapter files, and
 * checkpoint.safetensors (the state to resume from, see {@link Checkpoint}).
 */
public final class RunFolder {
    public static final String CONFIG = "run_config.json";
    public static final String METRICS = "metrics.jsonl";
    public static final String ALLOCATION = "allocation.jsonl";
    public static final String TRAINABLE = "trainable.safetensors";
    public static final String CHECKPOINT = "checkpoint.safetensors";
    /** A checkpoint written but not yet confirmed good by a following step (see {@link Checkpointer}). */
    public static final String PENDING_CHECKPOINT = "checkpoint.pending.safetensors";
    /** Every file a training run writes (what overwriting replaces). */
    public static final List<String> FILES = List.of(CONFIG, METRICS, ALLOCATION, TRAINABLE, CHECKPOINT, PENDING_CHECKPOINT,
            "adapter_config.json", "adapter_model.safetensors");

    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    static final ObjectMapper JSON_LINE = new ObjectMapper();

    private final Path dir;
    private final boolean writes;

    public RunFolder(Path dir) {
        this(dir, true);
    }

    private RunFolder(Path dir, boolean writes) {
        this.dir = dir;
        this.writes = writes;
    }

    /**
     * The same folder as seen by a data-parallel follower (a worker other than rank 0, see {@link BatchGradients}):
     * it reads what the leader wrote (the configuration, the checkpoint to resume from) and runs the same loop,
     * but every write through this view (run_config.json, the logs, checkpoints, trained tensors, adapter
     * files) does nothing, so the leader's files are the run's only ones.
     */
    public RunFolder follower() {
        return new RunFolder(dir, false);
    }

    /** Whether writes through this view reach the folder: false for a {@link #follower()}. */
    public boolean writes() {
        return writes;
    }

    public Path dir() {
        return dir;
    }

    /**
     * Creates the folder for a new run. An existing non-empty folder is refused unless overwrite when it holds
     * something worth keeping: a run with a checkpoint (which resuming continues; the message says so before it
     * mentions overwriting), a finished run, or files that are not a run's. A folder holding only the files of
     * a run that stopped before its first checkpoint (a failed start, an early crash) is not a run to protect:
     * nothing in it can be resumed, so it is cleared and reused, and the corrected command simply works.
     * With overwrite only the run's own files are deleted, never anything else in the folder.
     */
    public static RunFolder create(Path dir, boolean overwrite) {
        try {
            if (Files.exists(dir) && !Files.isDirectory(dir)) {
                throw new ConfigException(Setting.RUN_DIR, dir + " exists and is not a folder");
            }
            if (Files.isDirectory(dir)) {
                RunFolder existing = new RunFolder(dir);
                List<String> foreign = existing.foreignEntries();
                boolean empty;
                try (Stream<Path> s = Files.list(dir)) {
                    empty = s.findAny().isEmpty();
                }
                if (!empty && !overwrite) {
                    existing.refuseReuse(foreign);
                }
                if (!empty) {
                    for (String f : FILES) {
                        Files.deleteIfExists(dir.resolve(f));
                    }
                    existing.removeTemporaries();
                }
            }
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UserInputException("cannot create run folder " + dir + ": " + e.getMessage());
        }
        return new RunFolder(dir);
    }

    /** Throws the reason a new run may not replace what this folder holds; returns when it holds only a stub. */
    private void refuseReuse(List<String> foreign) {
        boolean checkpoint = hasCheckpoint() || Files.isRegularFile(pendingCheckpoint());
        if (finished()) {
            throw new UserInputException(UserMessage.of("run folder " + dir + " holds a finished run; choose another ",
                    Setting.RUN_DIR, ", or pass ", Setting.OVERWRITE, " to replace it"));
        }
        if (checkpoint) {
            String at = hasCheckpoint() ? " (checkpoint of step " + Checkpoint.step(checkpoint()) + ")" : "";
            throw new UserInputException(UserMessage.of("run folder " + dir + " holds an unfinished run" + at
                    + "; continue it with: ", resumeHint(dir), " (or pass ", Setting.OVERWRITE,
                    " to start again, which deletes its checkpoint)"));
        }
        if (!foreign.isEmpty()) {
            throw new ConfigException(Setting.RUN_DIR, dir + " already exists and holds files that are not a dynalora"
                    + " run (" + String.join(", ", foreign.subList(0, Math.min(3, foreign.size())))
                    + (foreign.size() > 3 ? ", ..." : "") + "); choose another ", Setting.RUN_DIR, ", or pass ",
                    Setting.OVERWRITE, " (which replaces only the run's own files)");
        }
    }

    /** The folder's entries that no training run writes (sorted names), e.g. a user's notes or another run. */
    private List<String> foreignEntries() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> !FILES.contains(n) && !isTemporary(n)).sorted().toList();
        }
    }

    private static boolean isTemporary(String name) {
        return name.endsWith(".tmp") && FILES.stream().anyMatch(f -> name.startsWith("." + f + "."));
    }

    /** How to continue the run in {@code dir}: resume, with the run folder (a front end names its own command). */
    public static UserMessage resumeHint(Path dir) {
        return UserMessage.of(Setting.RESUME, " ", Setting.RUN_DIR.is(dir));
    }

    public static RunFolder open(Path dir) {
        if (!Files.isRegularFile(dir.resolve(CONFIG))) {
            throw new UserInputException(dir + " is not a dynalora run folder (no " + CONFIG + ")");
        }
        return new RunFolder(dir);
    }

    public void writeConfig(TrainConfig c) {
        if (!writes) {
            return;
        }
        try {
            AtomicFiles.writeString(dir.resolve(CONFIG), JSON.writeValueAsString(c) + "\n");
        } catch (IOException e) {
            throw new UserInputException("cannot write " + dir.resolve(CONFIG) + ": " + e.getMessage());
        }
    }

    public TrainConfig readConfig() {
        Path f = dir.resolve(CONFIG);
        try {
            com.fasterxml.jackson.databind.JsonNode tree = JSON.readTree(f.toFile());
            if (tree instanceof com.fasterxml.jackson.databind.node.ObjectNode o && !o.has("shards")) {
                // Written before the setting existed: those runs computed each batch whole.
                o.put("shards", TrainConfig.DEFAULT_SHARDS);
            }
            TrainConfig c = JSON.treeToValue(tree, TrainConfig.class);
            c.validate();
            return c;
        } catch (IOException e) {
            throw new UserInputException(f + " is not a valid run configuration: " + e.getMessage().split("\n")[0]);
        }
    }

    /** Appends one JSON line and flushes it, so a killed run keeps every line written so far. */
    public void append(String file, Object record) {
        if (!writes) {
            return;
        }
        try (BufferedWriter w = Files.newBufferedWriter(dir.resolve(file), StandardCharsets.UTF_8,
                StandardOpenOption.CREATE, StandardOpenOption.APPEND)) {
            w.write(JSON_LINE.writeValueAsString(record));
            w.write('\n');
        } catch (IOException e) {
            throw new UserInputException("cannot write " + dir.resolve(file) + ": " + e.getMessage());
        }
    }

    public Path checkpoint() {
        return dir.resolve(CHECKPOINT);
    }

    public Path pendingCheckpoint() {
        return dir.resolve(PENDING_CHECKPOINT);
    }

    public boolean hasCheckpoint() {
        return Files.isRegularFile(checkpoint());
    }

    /** The length of one of the run's files in bytes; 0 if it does not exist yet. */
    public long size(String file) {
        try {
            Path f = dir.resolve(file);
            return Files.exists(f) ? Files.size(f) : 0;
        } catch (IOException e) {
            throw new UserInputException("cannot read " + dir.resolve(file) + ": " + e.getMessage());
        }
    }

    /**
     * Forces what was appended to a log file onto the disk. Done before a checkpoint records the log's length,
     * so that after a crash (even a power cut) the log is at least that long and can be cut back to it.
     */
    public void sync(String file) {
        if (!writes) {
            return;
        }
        Path f = dir.resolve(file);
        if (!Files.exists(f)) {
            return;
        }
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
            ch.force(true);
        } catch (IOException e) {
            throw new UserInputException("cannot write " + f + ": " + e.getMessage());
        }
    }

    /**
     * Cuts a log file back to {@code bytes}: what an interrupted run appended after its last checkpoint is
     * dropped, so the resumed run's lines follow on as an uninterrupted run's would. Idempotent, so a crash
     * during a resume is harmless.
     */
    public void truncate(String file, long bytes) {
        if (!writes) {
            return;
        }
        Path f = dir.resolve(file);
        long size = size(file);
        if (size < bytes) {
            throw new UserInputException(f + " has " + size + " bytes but the checkpoint was taken at " + bytes
                    + "; the run folder was modified, cannot resume");
        }
        if (size == bytes) {
            return;
        }
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
            ch.truncate(bytes);
            ch.force(true);
        } catch (IOException e) {
            throw new UserInputException("cannot write " + f + ": " + e.getMessage());
        }
    }

    /** Whether metrics.jsonl ends with the summary record, which a run writes last. */
    public boolean finished() {
        Path f = dir.resolve(METRICS);
        if (!Files.isRegularFile(f)) {
            return false;
        }
        try {
            List<String> lines = Files.readAllLines(f, StandardCharsets.UTF_8);
            for (int i = lines.size() - 1; i >= 0; i--) {
                if (!lines.get(i).isBlank()) {
                    return "summary".equals(JSON_LINE.readTree(lines.get(i)).path("type").asText());
                }
            }
            return false;
        } catch (IOException e) {
            return false; // an unreadable or torn last line: certainly not a finished run
        }
    }

    /**
     * Deletes the temporary files a kill during an atomic write of one of the run's files leaves behind
     * (AtomicFiles names them ".NAME.RANDOM.tmp"); they never hold anything the run needs.
     */
    public void removeTemporaries() {
        if (!writes) {
            return;
        }
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                if (isTemporary(p.getFileName().toString()) && Files.isRegularFile(p)) {
                    Files.deleteIfExists(p);
                }
            }
        } catch (IOException e) {
            throw new UserInputException("cannot clean up " + dir + ": " + e.getMessage());
        }
    }

    /** Suffix of a Dynamic LoRA module's component mask in {@link #TRAINABLE} (the mask is not a parameter). */
    public static final String MASK_SUFFIX = ".lora_mask";

    /** Suffix of a centred gate's centre in {@link #TRAINABLE} (measured, not trained; see LoraAdapter#gateCentre). */
    public static final String CENTRE_SUFFIX = ".lora_gate.centre";

    /**
     * Writes the trained values and, for adapters with a component mask (Dynamic LoRA), the final masks: the
     * allocation is part of the trained model, and without it eval, predict and merge would rebuild the
     * adapters with their initial masks.
     */
    public void saveTrainable(List<Param> params, AdaptableModel model) {
        if (!writes) {
            return;
        }
        Map<String, Tensor> m = new LinkedHashMap<>();
        for (Param p : params) {
            m.put(p.name(), p.value());
        }
        for (LinearModule lm : model.linearModules()) {
            if (lm.adapter() instanceof LoraAdapter a && a.componentMask() != null) {
                m.put(lm.name() + MASK_SUFFIX, new Tensor(new int[] {a.rank()}, a.componentMask().clone()));
            }
            if (lm.adapter() instanceof LoraAdapter a && a.gateCentre() != null) {
                m.put(lm.name() + CENTRE_SUFFIX, new Tensor(new int[] {a.in()}, a.gateCentre().clone()));
            }
        }
        SafetensorsWriter.write(dir.resolve(TRAINABLE), m);
    }

    /**
     * Loads the trained values into params (by name; every param must be present with its shape) and the
     * component masks into the model's masked adapters. A run written before masks were saved has none: its
     * adapters keep their initial masks, and a note says so.
     */
    public void loadTrainable(List<Param> params, AdaptableModel model) {
        Path f = dir.resolve(TRAINABLE);
        if (!Files.isRegularFile(f)) {
            throw new UserInputException(dir + " has no " + TRAINABLE + " (was the run finished?)");
        }
        try (SafetensorsReader r = SafetensorsReader.open(f)) {
            for (Param p : params) {
                Tensor t = r.readChecked(p.name(), p.value().shape());
                System.arraycopy(t.data(), 0, p.data(), 0, p.value().size());
            }
            for (LinearModule lm : model.linearModules()) {
                if (lm.adapter() instanceof LoraAdapter a && a.gated() && r.has(lm.name() + CENTRE_SUFFIX)) {
                    a.setGateCentre(r.readChecked(lm.name() + CENTRE_SUFFIX, new int[] {a.in()}).data());
                }
            }
            boolean missing = false;
            for (LinearModule lm : model.linearModules()) {
                if (!(lm.adapter() instanceof LoraAdapter a) || a.componentMask() == null) {
                    continue;
                }
                String key = lm.name() + MASK_SUFFIX;
                if (!r.has(key)) {
                    missing = true;
                    continue;
                }
                float[] mask = r.readChecked(key, new int[] {a.rank()}).data();
                for (float v : mask) {
                    if (v != 0f && v != 1f) {
                        throw new UserInputException(f + ": " + key + " holds " + v + "; a component mask holds only 0 and 1");
                    }
                }
                System.arraycopy(mask, 0, a.componentMask(), 0, a.rank());
            }
            if (missing) {
                System.err.println("note: " + f + " has no component masks (written by an older dynalora); the"
                        + " Dynamic LoRA adapters keep their initial allocation");
            }
        }
    }
}
