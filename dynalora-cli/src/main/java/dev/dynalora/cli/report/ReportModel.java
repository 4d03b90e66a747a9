package dev.dynalora.cli.report;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.cli.report.RunData.AllocationRecord;
import dev.dynalora.cli.report.RunData.EvalPoint;
import dev.dynalora.cli.report.RunData.ModuleStat;
import dev.dynalora.cli.report.RunData.TrainPoint;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The data the report's charts draw, as one JSON tree (embedded in the HTML file and read by its script):
 * <pre>
 * {"runs": [{"name", "label", "method", "task", "model",
 *            "train": {"step": [..], "epoch", "loss", "lr", "grad_norm"},
 *            "eval": [{"epoch", "step", "split", "train_loss", "metrics": {name: value}}],
 *            "allocation": null | {"step": [..], "budget": [..], "total_rank": [..],
 *                "modules": [{"name", "label", "layer"}],
 *                "rank": [[per step] per module], "importance": null | [[..]],
 *                "gate": null | {"mean": [[..]], "std", "min", "max"},
 *                "gate_all": null | {"mean": [..], "std", "min", "max"},
 *                "layers": [{"layer", "rank": [..]}],
 *                "kinds": [{"kind", "rank": [..]}]}}]}
 * </pre>
 * Allocation steps are counted like metrics.jsonl's: the number of training steps done (allocation.jsonl
 * writes the 0-based index of the step just taken, which is one less), so both kinds of chart share an axis.
 */
public final class ReportModel {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    private static final Pattern LAYERED = Pattern.compile("(?:^|.*\\.)layers?\\.(\\d+)\\.(.+)$");
    private static final Map<String, String> SHORT = Map.of(
            "attention.self.query", "query",
            "attention.self.key", "key",
            "attention.self.value", "value",
            "attention.output.dense", "attn.out",
            "intermediate.dense", "ffn.in",
            "output.dense", "ffn.out");

    private ReportModel() {
    }

    /** Series labels: run folder name and method, made unique when two folders share a name. */
    public static List<String> labels(List<RunData> runs) {
        List<String> out = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (RunData r : runs) {
            String base = r.name() + " (" + (r.method() == null ? "?" : r.method()) + ")";
            String label = base;
            for (int i = 2; !seen.add(label); i++) {
                label = base + " #" + i;
            }
            out.add(label);
        }
        return out;
    }

    public static ObjectNode build(List<RunData> runs) {
        ObjectNode root = F.objectNode();
        root.put("format", 1);
        ArrayNode arr = root.putArray("runs");
        List<String> labels = labels(runs);
        for (int i = 0; i < runs.size(); i++) {
            arr.add(run(runs.get(i), labels.get(i)));
        }
        return root;
    }

    private static ObjectNode run(RunData r, String label) {
        ObjectNode o = F.objectNode();
        o.put("name", r.name());
        o.put("label", label);
        o.put("method", r.method());
        o.put("task", r.task());
        o.put("model", r.model());
        ObjectNode train = o.putObject("train");
        List<TrainPoint> t = r.train();
        series(train, "step", t, p -> (double) p.step());
        series(train, "epoch", t, TrainPoint::epoch);
        series(train, "loss", t, TrainPoint::loss);
        series(train, "lr", t, TrainPoint::lr);
        series(train, "grad_norm", t, TrainPoint::gradNorm);
        ArrayNode evals = o.putArray("eval");
        for (EvalPoint e : r.evals()) {
            ObjectNode n = evals.addObject();
            num(n, "epoch", e.epoch());
            if (e.step() != null) {
                n.put("step", e.step());
            }
            n.put("split", e.split());
            num(n, "train_loss", e.trainLoss());
            ObjectNode m = n.putObject("metrics");
            e.metrics().forEach((k, v) -> num(m, k, v));
        }
        if (r.allocation().isEmpty()) {
            o.putNull("allocation");
        } else {
            o.set("allocation", allocation(r.allocation()));
        }
        return o;
    }

    private static ObjectNode allocation(List<AllocationRecord> recs) {
        ObjectNode a = F.objectNode();
        ArrayNode steps = a.putArray("step");
        ArrayNode budget = a.putArray("budget");
        ArrayNode total = a.putArray("total_rank");
        Set<String> names = new LinkedHashSet<>();
        for (AllocationRecord rec : recs) {
            steps.add(rec.step() + 1);
            if (rec.budget() == null) {
                budget.addNull();
            } else {
                budget.add(rec.budget());
            }
            total.add(rec.modules().values().stream().mapToLong(ModuleStat::rank).sum());
            names.addAll(rec.modules().keySet());
        }
        List<String> modules = new ArrayList<>(names);
        List<String> moduleLabels = moduleLabels(modules);
        ArrayNode mods = a.putArray("modules");
        Map<String, List<Integer>> byLayer = new TreeMap<>(Comparator.comparingLong(ReportModel::layerOrder).thenComparing(s -> s));
        for (int m = 0; m < modules.size(); m++) {
            String layer = layerOf(modules.get(m));
            ObjectNode mo = mods.addObject();
            mo.put("name", modules.get(m));
            mo.put("label", moduleLabels.get(m));
            mo.put("layer", layer);
            byLayer.computeIfAbsent(layer == null ? "other" : layer, k -> new ArrayList<>()).add(m);
        }
        a.set("rank", matrix(recs, modules, s -> (double) s.rank()));
        boolean importance = any(recs, s -> s.importance() != null);
        a.set("importance", importance ? matrix(recs, modules, ModuleStat::importance) : F.nullNode());
        boolean gate = any(recs, s -> s.gateMean() != null);
        if (gate) {
            ObjectNode g = a.putObject("gate");
            g.set("mean", matrix(recs, modules, ModuleStat::gateMean));
            g.set("std", matrix(recs, modules, ModuleStat::gateStd));
            g.set("min", matrix(recs, modules, ModuleStat::gateMin));
            g.set("max", matrix(recs, modules, ModuleStat::gateMax));
            a.set("gate_all", gateAll(recs));
        } else {
            a.putNull("gate");
            a.putNull("gate_all");
        }
        ArrayNode layers = a.putArray("layers");
        for (Map.Entry<String, List<Integer>> e : byLayer.entrySet()) {
            ObjectNode l = layers.addObject();
            l.put("layer", e.getKey());
            l.set("rank", rankSums(recs, modules, e.getValue()));
        }
        // Module kinds (query, value, ffn.in, ...): where capacity moved between attention and MLP.
        Map<String, List<Integer>> byKind = new LinkedHashMap<>();
        for (int m = 0; m < modules.size(); m++) {
            byKind.computeIfAbsent(kindOf(modules.get(m)), k -> new ArrayList<>()).add(m);
        }
        ArrayNode kinds = a.putArray("kinds");
        for (Map.Entry<String, List<Integer>> e : byKind.entrySet()) {
            ObjectNode k = kinds.addObject();
            k.put("kind", e.getKey());
            k.set("rank", rankSums(recs, modules, e.getValue()));
        }
        return a;
    }

    /** Per record, the summed rank of the modules {@code members} (null where none of them was logged). */
    private static ArrayNode rankSums(List<AllocationRecord> recs, List<String> modules, List<Integer> members) {
        ArrayNode rank = F.arrayNode();
        for (AllocationRecord rec : recs) {
            long sum = 0;
            boolean present = false;
            for (int m : members) {
                ModuleStat s = rec.modules().get(modules.get(m));
                if (s != null) {
                    sum += s.rank();
                    present = true;
                }
            }
            if (present) {
                rank.add(sum);
            } else {
                rank.addNull();
            }
        }
        return rank;
    }

    /**
     * A module's kind, its path inside the layer in short form ("encoder.layer.3.attention.self.query" gives
     * "query", "model.layers.2.mlp.up_proj" gives "mlp.up_proj"); a module outside numbered layers is its own kind.
     */
    static String kindOf(String module) {
        Matcher m = LAYERED.matcher(module);
        return m.matches() ? SHORT.getOrDefault(m.group(2), m.group(2)) : module;
    }

    /**
     * Gate statistics over all modules at each record: the mean of the modules' means (weighted by the
     * examples each saw), the pooled standard deviation, the least minimum and the largest maximum.
     */
    private static ObjectNode gateAll(List<AllocationRecord> recs) {
        ObjectNode g = F.objectNode();
        ArrayNode mean = g.putArray("mean");
        ArrayNode std = g.putArray("std");
        ArrayNode min = g.putArray("min");
        ArrayNode max = g.putArray("max");
        for (AllocationRecord rec : recs) {
            double w = 0;
            double sum = 0;
            double sq = 0;
            double lo = Double.POSITIVE_INFINITY;
            double hi = Double.NEGATIVE_INFINITY;
            for (ModuleStat s : rec.modules().values()) {
                if (s.gateMean() == null) {
                    continue;
                }
                double weight = s.gateExamples() != null && s.gateExamples() > 0 ? s.gateExamples() : 1;
                double sd = s.gateStd() == null ? 0 : s.gateStd();
                w += weight;
                sum += weight * s.gateMean();
                sq += weight * (sd * sd + s.gateMean() * s.gateMean());
                lo = Math.min(lo, s.gateMin() == null ? s.gateMean() : s.gateMin());
                hi = Math.max(hi, s.gateMax() == null ? s.gateMean() : s.gateMax());
            }
            if (w == 0) {
                mean.addNull();
                std.addNull();
                min.addNull();
                max.addNull();
            } else {
                double mu = sum / w;
                addNum(mean, mu);
                addNum(std, Math.sqrt(Math.max(0, sq / w - mu * mu)));
                addNum(min, lo);
                addNum(max, hi);
            }
        }
        return g;
    }

    private static boolean any(List<AllocationRecord> recs, java.util.function.Predicate<ModuleStat> p) {
        return recs.stream().anyMatch(r -> r.modules().values().stream().anyMatch(p));
    }

    /** [module][record] values; null where a record lacks the module or the value. */
    private static ArrayNode matrix(List<AllocationRecord> recs, List<String> modules, Function<ModuleStat, Double> f) {
        ArrayNode out = F.arrayNode();
        for (String m : modules) {
            ArrayNode row = out.addArray();
            for (AllocationRecord rec : recs) {
                ModuleStat s = rec.modules().get(m);
                addNum(row, s == null ? null : f.apply(s));
            }
        }
        return out;
    }

    /** The transformer layer index in a module path ("encoder.layer.3.attention.self.query" gives "3"). */
    static String layerOf(String module) {
        Matcher m = LAYERED.matcher(module);
        return m.matches() ? m.group(1) : null;
    }

    private static long layerOrder(String layer) {
        try {
            return Long.parseLong(layer);
        } catch (NumberFormatException e) {
            return Long.MAX_VALUE;
        }
    }

    /** Short, unique labels: "L3 query" for "encoder.layer.3.attention.self.query"; the full path otherwise. */
    static List<String> moduleLabels(List<String> modules) {
        List<String> out = new ArrayList<>();
        Map<String, Integer> count = new LinkedHashMap<>();
        for (String name : modules) {
            Matcher m = LAYERED.matcher(name);
            String label = m.matches() ? "L" + m.group(1) + " " + SHORT.getOrDefault(m.group(2), m.group(2)) : name;
            out.add(label);
            count.merge(label, 1, Integer::sum);
        }
        for (int i = 0; i < out.size(); i++) {
            if (count.get(out.get(i)) > 1) {
                out.set(i, modules.get(i));
            }
        }
        return out;
    }

    private static <T> void series(ObjectNode o, String key, List<T> points, Function<T, Double> f) {
        ArrayNode a = o.putArray(key);
        for (T p : points) {
            addNum(a, f.apply(p));
        }
    }

    private static void addNum(ArrayNode a, Double v) {
        if (v == null || !Double.isFinite(v)) {
            a.addNull();
        } else if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            a.add(v.longValue());
        } else {
            a.add(v);
        }
    }

    private static void num(ObjectNode o, String key, Double v) {
        if (v == null || !Double.isFinite(v)) {
            o.putNull(key);
        } else {
            o.put(key, v);
        }
    }
}
