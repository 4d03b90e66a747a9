package dev.dynalora.cli.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The figures of bench speed from the result lines of all rounds: per measurement the median time and
 * throughput over rounds, the largest peak RSS, model FLOPs utilisation from the median time (see FlopModel),
 * the ratios ours / PyTorch in tokens per second, and Dynamic LoRA's step time over LoRA's, paired within each
 * round (the two run back to back) and then the median taken.
 */
public final class SpeedReport {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final SpeedSettings s;
    private final long forwardFlops;
    private final long stepFlops;
    private final Map<SpeedCase, List<ObjectNode>> lines = new EnumMap<>(SpeedCase.class);

    /** The figures of one measurement over all rounds. */
    public record Figures(double msPerStep, double tokensPerS, double peakRssMb, double mfu, double[] msPerRound) {
    }

    public SpeedReport(SpeedSettings s, long forwardFlops, long stepFlops) {
        this.s = s;
        this.forwardFlops = forwardFlops;
        this.stepFlops = stepFlops;
        for (SpeedCase c : SpeedCase.values()) {
            lines.put(c, new ArrayList<>());
        }
    }

    public void add(SpeedCase c, ObjectNode line) {
        lines.get(c).add(line);
    }

    long flops(SpeedCase c) {
        return c.step == SpeedCase.Step.FORWARD ? forwardFlops : stepFlops;
    }

    public Figures figures(SpeedCase c) {
        List<ObjectNode> l = lines.get(c);
        double[] ms = l.stream().mapToDouble(o -> o.get("ms_per_step").asDouble()).toArray();
        double[] tps = l.stream().mapToDouble(o -> o.get("tokens_per_s").asDouble()).toArray();
        double rss = l.stream().map(o -> o.get("peak_rss_mb")).filter(v -> v != null && v.isNumber() && v.asDouble() >= 0)
                .mapToDouble(JsonNode::asDouble).max().orElse(Double.NaN);
        double medianMs = median(ms);
        double mfu = flops(c) / (medianMs / 1000) / (s.threads() * s.peakGflopsPerCore() * 1e9);
        return new Figures(medianMs, median(tps), rss, mfu, ms);
    }

    /** Our tokens per second over PyTorch's (medians), for the forward pass or the LoRA step. */
    public double ratio(SpeedCase.Step step) {
        SpeedCase ours = step == SpeedCase.Step.FORWARD ? SpeedCase.FORWARD_DYNALORA : SpeedCase.LORA_DYNALORA;
        SpeedCase theirs = step == SpeedCase.Step.FORWARD ? SpeedCase.FORWARD_PYTORCH : SpeedCase.LORA_PYTORCH;
        return figures(ours).tokensPerS() / figures(theirs).tokensPerS();
    }

    /**
     * Dynamic LoRA's step time over LoRA's minus one, in %, for each round: the in-process figure of the Dynamic
     * LoRA run ({@code overhead_pct} of bench step --paired-with lora, median over steps alternated with LoRA
     * steps) when it has one, else the ratio of the two runs' medians.
     */
    public double[] dynamicOverheadPerRound() {
        List<ObjectNode> dl = lines.get(SpeedCase.DYNAMIC_DYNALORA);
        if (pairedOverhead()) {
            return dl.stream().mapToDouble(o -> o.get("overhead_pct").asDouble()).toArray();
        }
        double[] lora = figures(SpeedCase.LORA_DYNALORA).msPerRound();
        double[] dyn = figures(SpeedCase.DYNAMIC_DYNALORA).msPerRound();
        double[] o = new double[Math.min(lora.length, dyn.length)];
        for (int i = 0; i < o.length; i++) {
            o[i] = (dyn[i] / lora[i] - 1) * 100;
        }
        return o;
    }

    /** Whether every Dynamic LoRA run measured its overhead in process (bench step --paired-with lora). */
    boolean pairedOverhead() {
        List<ObjectNode> dl = lines.get(SpeedCase.DYNAMIC_DYNALORA);
        return !dl.isEmpty() && dl.stream().allMatch(o -> o.hasNonNull("overhead_pct"));
    }

    public double dynamicOverheadPct() {
        return median(dynamicOverheadPerRound());
    }

    /**
     * Per round, the share of Dynamic LoRA's step time spent in the work plain LoRA does not do, timed directly
     * ({@code extra_work_pct} of bench step); empty when the runs do not report it (an older build).
     */
    public double[] dynamicExtraWorkPerRound() {
        List<ObjectNode> dl = lines.get(SpeedCase.DYNAMIC_DYNALORA);
        if (dl.isEmpty() || !dl.stream().allMatch(o -> o.hasNonNull("extra_work_pct"))) {
            return new double[0];
        }
        return dl.stream().mapToDouble(o -> o.get("extra_work_pct").asDouble()).toArray();
    }

    public ObjectNode toJson() {
        ObjectNode o = JSON.createObjectNode();
        o.put("model", s.model().toString());
        o.put("batch", s.batch());
        o.put("seq", s.seq());
        o.put("threads", s.threads());
        o.put("steps", s.steps());
        o.put("warmup", s.warmup());
        o.put("rounds", s.rounds());
        o.put("rank", s.rank());
        o.put("targets", s.targets());
        o.put("peak_gflops_per_core", s.peakGflopsPerCore());
        o.put("reference", referenceInfo());
        ObjectNode flops = o.putObject("flops_per_step");
        flops.put("forward", forwardFlops);
        flops.put("lora_step", stepFlops);
        flops.put("dynamic_step", stepFlops);
        for (SpeedCase.Step step : SpeedCase.Step.values()) {
            ObjectNode st = o.putObject(step.key);
            for (SpeedCase c : SpeedCase.values()) {
                if (c.step == step) {
                    st.set(c.engine(), figuresJson(c));
                }
            }
            if (step != SpeedCase.Step.DYNAMIC) {
                st.put("ratio_tokens_per_s", round(ratio(step), 3));
            } else {
                st.put("overhead_vs_lora_pct", round(dynamicOverheadPct(), 2));
                ArrayNode per = st.putArray("overhead_vs_lora_pct_per_round");
                Arrays.stream(dynamicOverheadPerRound()).forEach(v -> per.add(round(v, 2)));
                double[] extra = dynamicExtraWorkPerRound();
                if (extra.length > 0) {
                    st.put("extra_work_pct", round(median(extra), 3));
                }
            }
        }
        ArrayNode raw = o.putArray("runs");
        for (int round = 0; round < s.rounds(); round++) {
            for (SpeedCase c : SpeedCase.values()) {
                if (round < lines.get(c).size()) {
                    ObjectNode r = raw.addObject();
                    r.put("round", round + 1);
                    r.put("case", c.label());
                    r.set("result", lines.get(c).get(round));
                }
            }
        }
        return o;
    }

    private ObjectNode figuresJson(SpeedCase c) {
        Figures f = figures(c);
        ObjectNode o = JSON.createObjectNode();
        o.put("ms_per_step", round(f.msPerStep(), 2));
        o.put("tokens_per_s", round(f.tokensPerS(), 1));
        if (Double.isNaN(f.peakRssMb())) {
            o.putNull("peak_rss_mb");
        } else {
            o.put("peak_rss_mb", f.peakRssMb());
        }
        o.put("mfu", round(f.mfu(), 4));
        ArrayNode per = o.putArray("ms_per_step_per_round");
        Arrays.stream(f.msPerRound()).forEach(per::add);
        return o;
    }

    /** torch version and BLAS as the reference reported them, e.g. "torch 1.13.0, openblas". */
    private String referenceInfo() {
        List<ObjectNode> ref = lines.get(SpeedCase.FORWARD_PYTORCH);
        if (ref.isEmpty()) {
            return "";
        }
        ObjectNode r = ref.get(0);
        return ("torch " + r.path("torch").asText("?") + ", " + r.path("blas").asText("?")).strip();
    }

    public String markdown() {
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "## Speed: dynalora vs PyTorch eager (%s)%n%n", s.model().getFileName()));
        b.append(String.format(Locale.ROOT, "batch %d x seq %d, threads %d, %d timed steps after %d warm-up, median of %d round(s); "
                + "reference: %s%n%n", s.batch(), s.seq(), s.threads(), s.steps(), s.warmup(), s.rounds(), referenceInfo()));
        b.append("| step | engine | ms/step | tokens/s | peak RSS (MB) | GFLOP/step | MFU |\n");
        b.append("| --- | --- | ---: | ---: | ---: | ---: | ---: |\n");
        for (SpeedCase c : SpeedCase.values()) {
            Figures f = figures(c);
            b.append(String.format(Locale.ROOT, "| %s | %s | %.1f | %.1f | %s | %.2f | %.1f%% |%n", stepName(c.step),
                    c.reference ? "PyTorch" : "dynalora", f.msPerStep(), f.tokensPerS(),
                    Double.isNaN(f.peakRssMb()) ? "n/a" : String.format(Locale.ROOT, "%.0f", f.peakRssMb()),
                    flops(c) / 1e9, f.mfu() * 100));
        }
        b.append('\n');
        b.append(String.format(Locale.ROOT, "- dynalora / PyTorch in tokens/s: forward **%.2fx**, LoRA step **%.2fx**%n",
                ratio(SpeedCase.Step.FORWARD), ratio(SpeedCase.Step.LORA)));
        StringBuilder per = new StringBuilder();
        for (double v : dynamicOverheadPerRound()) {
            per.append(per.length() == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%+.2f%%", v));
        }
        b.append(String.format(Locale.ROOT, "- Dynamic LoRA step over LoRA step: **%+.2f%%** (median over rounds: %s; %s)%n",
                dynamicOverheadPct(), per, pairedOverhead()
                        ? "in each round the median over steps of the two methods alternated in one process"
                        : "each round from the two runs' medians"));
        double[] extra = dynamicExtraWorkPerRound();
        if (extra.length > 0) {
            b.append(String.format(Locale.ROOT, "- Dynamic LoRA's own work (gates, mask compaction, importance and "
                    + "reallocation), timed directly inside its steps: **%.2f%%** of its step time (median over rounds)%n",
                    median(extra)));
        }
        b.append(String.format(Locale.ROOT, "- MFU = model FLOPs per step / time / (threads %d x %s GFLOP/s per core); "
                + "FLOPs: matrix products only (dev.dynalora.cli.bench.FlopModel)%n", s.threads(), trim(s.peakGflopsPerCore())));
        return b.toString();
    }

    private String stepName(SpeedCase.Step step) {
        return switch (step) {
            case FORWARD -> "forward (inference)";
            case LORA -> "LoRA r=" + s.rank() + " " + s.targets() + " training step";
            case DYNAMIC -> "Dynamic LoRA r=" + s.rank() + " " + s.targets() + " training step";
        };
    }

    static double median(double[] v) {
        if (v.length == 0) {
            return Double.NaN;
        }
        double[] c = v.clone();
        Arrays.sort(c);
        int n = c.length;
        return n % 2 == 1 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
    }

    private static double round(double v, int digits) {
        if (!Double.isFinite(v)) {
            return v;
        }
        double f = Math.pow(10, digits);
        return Math.round(v * f) / f;
    }

    private static String trim(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }
}
