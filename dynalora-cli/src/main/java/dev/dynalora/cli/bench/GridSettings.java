package dev.dynalora.cli.bench;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.dynalora.training.Method;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The resolved settings of a GLUE grid (bench glue), written to OUT/grid_config.json. A grid resumes only into a
 * folder whose settings are the same, so that every run of one table was trained the same way.
 *
 * @param epochsFor per-task --epochs overrides
 * @param limitFor  per-task --limit (first N training examples; 0 = all)
 * @param targets   --targets of every adapter run, or null for train's default (the model family's); written to
 *                  grid_config.json only when set, so that grids made before the flag existed still resume
 * @param lrs       the peak learning rates of each method (train's default already applied): one rate, or several
 *                  (--lrs-for), every one of which runs; grid_config.json's "lr" holds a number for a method with
 *                  one rate (as it always has) and a list for one with several
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
@JsonPropertyOrder({"model", "data", "tasks", "methods", "seeds", "epochs", "epochs_for", "limit_for", "eval_limit",
        "max_len", "batch", "rank", "targets", "threads", "lr"})
public record GridSettings(String model, String data, List<String> tasks, List<String> methods, int seeds, int epochs,
                           Map<String, Integer> epochsFor, Map<String, Integer> limitFor, int evalLimit, int maxLen,
                           int batch, int rank, @JsonInclude(JsonInclude.Include.NON_NULL) String targets, int threads,
                           @JsonIgnore Map<String, List<Double>> lrs) implements java.io.Serializable {

    public static final String FILE = "grid_config.json";

    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    public GridSettings {
        tasks = List.copyOf(tasks);
        methods = List.copyOf(methods);
        // Sorted, so that the file reads the same whatever order the flags came in.
        epochsFor = new TreeMap<>(epochsFor);
        limitFor = new TreeMap<>(limitFor);
        Map<String, List<Double>> sorted = new TreeMap<>();
        lrs.forEach((m, v) -> sorted.put(m, List.copyOf(v)));
        lrs = sorted;
    }

    /** Settings with one learning rate per method. */
    public static Map<String, List<Double>> single(Map<String, Double> lr) {
        Map<String, List<Double>> m = new TreeMap<>();
        lr.forEach((k, v) -> m.put(k, List.of(v)));
        return m;
    }

    /** The learning rates of a method, in the order given. */
    public List<Double> lrsOf(String method) {
        return lrs.get(method);
    }

    /** Whether a method trains at several learning rates (and the rate is part of its runs' folder names). */
    public boolean hasLrGrid(String method) {
        return lrs.get(method).size() > 1;
    }

    /** Whether any method trains at several learning rates. */
    public boolean anyLrGrid() {
        return methods.stream().anyMatch(this::hasLrGrid);
    }

    /** grid_config.json's "lr": per method its rate, or the list of its rates. */
    @JsonProperty("lr")
    public Map<String, Object> lrJson() {
        Map<String, Object> m = new TreeMap<>();
        lrs.forEach((k, v) -> m.put(k, v.size() == 1 ? v.get(0) : v));
        return m;
    }

    public int epochsOf(String task) {
        return epochsFor.getOrDefault(task, epochs);
    }

    public int limitOf(String task) {
        return limitFor.getOrDefault(task, 0);
    }

    /**
     * Every run, seed by seed: the first seed of every task and method comes first, so that an interrupted grid
     * already has a complete (if single-seed) table.
     */
    public List<GridRun> runs() {
        List<GridRun> runs = new ArrayList<>();
        for (int seed = 1; seed <= seeds; seed++) {
            for (String task : tasks) {
                for (String method : methods) {
                    for (double lr : lrsOf(method)) {
                        runs.add(new GridRun(task, method, seed, lr, hasLrGrid(method)));
                    }
                }
            }
        }
        return runs;
    }

    /** The arguments of dynalora train for one run (its folder replaced if a previous attempt left one). */
    public List<String> trainArgs(GridRun r, Path runDir) {
        List<String> a = new ArrayList<>(List.of("train", "--model", model, "--task", r.task(), "--data", data,
                "--method", r.method(), "--out", runDir.toString(), "--overwrite", "--seed", Integer.toString(r.seed()),
                "--lr", Double.toString(r.lr()), "--epochs", Integer.toString(epochsOf(r.task())),
                "--batch", Integer.toString(batch), "--max-len", Integer.toString(maxLen), "--rank", Integer.toString(rank),
                "--threads", Integer.toString(threads)));
        if (limitOf(r.task()) > 0) {
            a.addAll(List.of("--limit", Integer.toString(limitOf(r.task()))));
        }
        if (evalLimit > 0) {
            a.addAll(List.of("--eval-limit", Integer.toString(evalLimit)));
        }
        if (targets != null && Method.parse(r.method()).usesAdapters()) {
            a.addAll(List.of("--targets", targets));
        }
        return a;
    }

    /** Continues the run in runDir from its checkpoint, with the grid's thread count. */
    public List<String> resumeArgs(Path runDir) {
        return List.of("train", "--resume", "--out", runDir.toString(), "--threads", Integer.toString(threads));
    }

    public ObjectNode toJson() {
        return JSON.valueToTree(this);
    }

    public String toJsonText() {
        try {
            return JSON.writeValueAsString(this) + "\n";
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The first setting in which a saved grid_config.json differs from these settings, as "name: saved vs now",
     * or empty when they agree.
     */
    public Optional<String> differenceFrom(JsonNode saved) {
        ObjectNode now = toJson();
        for (Iterator<String> it = now.fieldNames(); it.hasNext(); ) {
            String name = it.next();
            if (!now.get(name).equals(saved.get(name))) {
                return Optional.of(name + ": " + saved.get(name) + " there, " + now.get(name) + " now");
            }
        }
        for (Iterator<String> it = saved.fieldNames(); it.hasNext(); ) {
            String name = it.next();
            if (!now.has(name)) {
                return Optional.of(name + ": " + saved.get(name) + " there, not a setting now");
            }
        }
        return Optional.empty();
    }
}
