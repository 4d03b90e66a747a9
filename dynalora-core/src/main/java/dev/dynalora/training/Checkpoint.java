package dev.dynalora.training;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.UserInputException;
import dev.dynalora.adapters.AllocatorState;
import dev.dynalora.formats.SafetensorsReader;
import dev.dynalora.formats.SafetensorsWriter;
import dev.dynalora.tensor.Param;
import dev.dynalora.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A training checkpoint: all a run needs to continue exactly where it stood, so that a resumed run ends with
 * the same bits as one never interrupted. Tensors: the trainable weights ({@code param/NAME}), AdamW's first
 * and second moments ({@code adam_m/NAME}, {@code adam_v/NAME}) and the allocator's large arrays
 * ({@code hooks/KEY}). The safetensors {@code __metadata__} entry {@value #META_KEY} holds the rest as JSON:
 * the training position and counters ({@link TrainingProgress}), AdamW's step count, the allocator's small
 * state, the run configuration the state was trained with, and the length in bytes of metrics.jsonl and
 * allocation.jsonl when the checkpoint was taken (a resumed run cuts them back to that, dropping what the
 * interrupted run logged after it).
 *
 * <p>Why one file and not a folder: it is written through {@code AtomicFiles} (temporary name beside it,
 * fsync, atomic rename, fsync of the folder), so at every instant the name holds either the complete previous
 * checkpoint or the complete new one, and a kill mid-write leaves only a stray temporary file. A folder of
 * several files cannot be replaced in one rename; it would need a pointer file as a second commit step, and
 * any slip there could pair the weights of one step with the optimizer state of another. One file cannot.
 */
public final class Checkpoint {
    public static final String META_KEY = "dynalora.checkpoint";
    static final String FORMAT = "dynalora-checkpoint";
    static final int VERSION = 1;
    private static final ObjectMapper JSON = new ObjectMapper();

    private Checkpoint() {
    }

    /**
     * What a checkpoint restored besides the model, optimizer and allocator: the position, the log lengths and
     * the configuration the run had when the checkpoint was written.
     */
    record Restored(TrainingProgress progress, Map<String, Long> logSizes, JsonNode config) {
    }

    /**
     * Writes the state of a run between two steps to {@code file}, atomically. {@code trainExamples} and
     * {@code totalSteps} are stored so that a resume against changed data or configuration is refused.
     */
    static void save(Path file, TrainConfig config, TrainingProgress progress, Map<String, Long> logSizes,
                     List<Param> params, AdamW opt, StepHooks hooks, int trainExamples, long totalSteps) {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        List<float[]> m = opt.firstMoments();
        List<float[]> v = opt.secondMoments();
        for (int i = 0; i < params.size(); i++) {
            Param p = params.get(i);
            int[] shape = p.value().shape();
            tensors.put("param/" + p.name(), p.value());
            tensors.put("adam_m/" + p.name(), new Tensor(shape, m.get(i)));
            tensors.put("adam_v/" + p.name(), new Tensor(shape, v.get(i)));
        }
        AllocatorState hookState = new AllocatorState();
        hooks.saveState(hookState);
        hookState.arrays().forEach((k, a) -> tensors.put("hooks/" + k, new Tensor(new int[] {a.length}, a)));

        ObjectNode meta = JsonNodeFactory.instance.objectNode();
        meta.put("format", FORMAT);
        meta.put("version", VERSION);
        meta.put("train_examples", trainExamples);
        meta.put("total_steps", totalSteps);
        meta.set("progress", progress.toJson());
        meta.set("config", RunFolder.JSON.valueToTree(config));
        meta.put("optimizer_step", opt.stepCount());
        meta.set("hooks", hookState.values());
        ObjectNode logs = meta.putObject("log_bytes");
        logSizes.forEach(logs::put);
        SafetensorsWriter.write(file, tensors, Map.of(META_KEY, meta.toString()));
    }

    /**
     * Loads the checkpoint in {@code file} into the parameters, optimizer and hooks of a run built from the
     * same configuration, and returns the training position.
     *
     * @throws UserInputException if the file is not a checkpoint, or one of another configuration or data set
     */
    static Restored restore(Path file, List<Param> params, AdamW opt, StepHooks hooks, int trainExamples, long totalSteps) {
        try (SafetensorsReader r = SafetensorsReader.open(file)) {
            JsonNode meta = meta(r);
            long examples = meta.path("train_examples").asLong(-1);
            long total = meta.path("total_steps").asLong(-1);
            if (examples != trainExamples || total != totalSteps) {
                throw new UserInputException(file + " was written for " + examples + " training examples and " + total
                        + " steps, but the run's configuration and data now give " + trainExamples + " and "
                        + totalSteps + "; was the data or run_config.json changed?");
            }
            TrainingProgress progress = TrainingProgress.fromJson(meta.path("progress"));
            if (progress.step > totalSteps) {
                throw new UserInputException(file + ": step " + progress.step + " is past the run's " + totalSteps + " steps");
            }
            List<float[]> m = new ArrayList<>();
            List<float[]> v = new ArrayList<>();
            for (Param p : params) {
                int[] shape = p.value().shape();
                float[] w = r.readChecked("param/" + p.name(), shape).data();
                System.arraycopy(w, 0, p.data(), 0, w.length);
                m.add(r.readChecked("adam_m/" + p.name(), shape).data());
                v.add(r.readChecked("adam_v/" + p.name(), shape).data());
            }
            opt.restore(meta.path("optimizer_step").asLong(), m, v);
            Map<String, float[]> arrays = new LinkedHashMap<>();
            for (String name : r.names()) {
                if (name.startsWith("hooks/")) {
                    arrays.put(name.substring("hooks/".length()), r.readFloat(name));
                }
            }
            JsonNode hv = meta.path("hooks");
            hooks.restoreState(new AllocatorState(arrays, hv.isObject() ? (ObjectNode) hv : JsonNodeFactory.instance.objectNode()));
            Map<String, Long> logs = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = meta.path("log_bytes").fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                logs.put(e.getKey(), e.getValue().asLong());
            }
            return new Restored(progress, logs, meta.path("config"));
        }
    }

    /** The number of steps the run had taken when the checkpoint in {@code file} was written. */
    public static long step(Path file) {
        try (SafetensorsReader r = SafetensorsReader.open(file)) {
            return TrainingProgress.fromJson(meta(r).path("progress")).step;
        }
    }

    /**
     * The name of the first trainable weight or optimizer moment holding a NaN or an infinity, or null when
     * all are finite: such a state is a diverged one and must never replace the last good checkpoint.
     */
    static String firstNonFinite(List<Param> params, AdamW opt) {
        for (int i = 0; i < params.size(); i++) {
            if (!finite(params.get(i).data()) || !finite(opt.firstMoments().get(i)) || !finite(opt.secondMoments().get(i))) {
                return params.get(i).name();
            }
        }
        return null;
    }

    private static boolean finite(float[] a) {
        for (float x : a) {
            if (!Float.isFinite(x)) {
                return false;
            }
        }
        return true;
    }

    private static JsonNode meta(SafetensorsReader r) {
        String text = r.metadata().get(META_KEY);
        if (text == null) {
            throw new UserInputException(r.path() + " is not a dynalora training checkpoint (no " + META_KEY + " metadata)");
        }
        JsonNode meta;
        try {
            meta = JSON.readTree(text);
        } catch (IOException e) {
            throw new UserInputException(r.path() + ": checkpoint metadata is not valid JSON");
        }
        if (!meta.isObject() || !FORMAT.equals(meta.path("format").asText()) || meta.path("version").asInt() != VERSION) {
            throw new UserInputException(r.path() + ": unsupported checkpoint format (this dynalora reads "
                    + FORMAT + " version " + VERSION + ")");
        }
        return meta;
    }
}
