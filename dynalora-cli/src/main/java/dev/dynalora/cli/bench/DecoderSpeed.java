package dev.dynalora.cli.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.UserInputException;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * bench speed for a decoder: in each round, each in its own process and one after the other, our LoRA training
 * step ({@code bench step}) and the reference's {@code --mode step} with the same batch, length, rank and targets,
 * then our greedy generation ({@code bench generate}, batch 1) and the reference's {@code --mode generate}; then
 * the medians over the rounds and the ratios ours / PyTorch in tokens per second. The reference reports its
 * fastest thread arrangement (PyTorch and OpenBLAS pools, see shared/reference/_threads.py), so the ratios are
 * against PyTorch at its best. Generation compares like with like: the reference's tokens/s include the
 * prompt's prefill, so ours is {@code tokens_per_s_incl_prefill}; our decode-only figure is printed beside it.
 */
public final class DecoderSpeed {
    /** The four measurements of a round, in the order they run. */
    public enum Case {
        STEP_DYNALORA, STEP_PYTORCH, GENERATE_DYNALORA, GENERATE_PYTORCH;

        boolean reference() {
            return this == STEP_PYTORCH || this == GENERATE_PYTORCH;
        }

        public String label() {
            return (reference() ? "pytorch " : "dynalora ") + (ordinal() < 2 ? "lora_step" : "generate");
        }
    }

    /** What is compared; step threads and generation threads are separate (the protocol: 2 and 1). */
    public record Settings(Path model, Path reference, String python, int batch, int seq, int steps, int warmup,
                           int rounds, int stepThreads, int rank, String targets, int generateThreads, int promptLen,
                           int newTokens) {
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Settings s;
    private final String mainClass;
    private final Map<Case, List<ObjectNode>> results = new EnumMap<>(Case.class);

    public DecoderSpeed(Settings s, String mainClass) {
        this.s = s;
        this.mainClass = mainClass;
        for (Case c : Case.values()) {
            results.put(c, new ArrayList<>());
        }
    }

    /** The child's command line for one measurement. */
    List<String> command(Case c) {
        List<String> a = new ArrayList<>();
        boolean step = c == Case.STEP_DYNALORA || c == Case.STEP_PYTORCH;
        if (c.reference()) {
            a.addAll(List.of(s.python(), s.reference().toString(), "--model", s.model().toString()));
            if (step) {
                a.addAll(List.of("--mode", "step", "--batch", "" + s.batch(), "--seq", "" + s.seq(), "--steps", "" + s.steps(),
                        "--warmup", "" + s.warmup(), "--threads", "" + s.stepThreads(), "--rank", "" + s.rank(),
                        "--targets", s.targets()));
            } else {
                a.addAll(List.of("--mode", "generate", "--prompt-len", "" + s.promptLen(), "--new-tokens", "" + s.newTokens(),
                        "--threads", "" + s.generateThreads()));
            }
            return a;
        }
        if (step) {
            a.addAll(List.of("bench", "step", "--model", s.model().toString(), "--method", "lora", "--batch", "" + s.batch(),
                    "--seq", "" + s.seq(), "--steps", "" + s.steps(), "--warmup", "" + s.warmup(),
                    "--threads", "" + s.stepThreads(), "--rank", "" + s.rank(), "--targets", s.targets(), "--no-dropout", "--json"));
        } else {
            a.addAll(List.of("bench", "generate", "--model", s.model().toString(), "--batch", "1", "--prompt-len",
                    "" + s.promptLen(), "--new-tokens", "" + s.newTokens(), "--threads", "" + s.generateThreads(), "--json"));
        }
        return ChildJava.command(mainClass, a);
    }

    /** Runs one measurement and keeps its JSON line (a failed or silent child is a one-line error). */
    public void measure(Case c) {
        ChildRunner.Captured r = ChildRunner.capture(command(c));
        if (r.exit() != 0) {
            throw new UserInputException(c.label() + " failed (exit code " + r.exit() + "): " + r.lastLine());
        }
        ObjectNode o = JsonLine.last(r.out()).orElseThrow(() -> new UserInputException(
                c.label() + " printed no JSON line; its last output: " + r.lastLine()));
        if (!(o.path("tokens_per_s").asDouble() > 0)) {
            throw new UserInputException(c.label() + ": no positive tokens_per_s in " + o);
        }
        results.get(c).add(o);
    }

    private double median(Case c, String field) {
        double[] v = results.get(c).stream().mapToDouble(o -> o.path(field).asDouble()).toArray();
        java.util.Arrays.sort(v);
        return v.length == 0 ? Double.NaN : v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    public ObjectNode toJson() {
        ObjectNode o = JSON.createObjectNode();
        o.put("model", s.model().toString());
        o.put("rounds", s.rounds());
        ObjectNode step = o.putObject("lora_step");
        step.put("batch", s.batch());
        step.put("seq", s.seq());
        step.put("threads", s.stepThreads());
        step.put("targets", s.targets());
        step.put("rank", s.rank());
        step.put("dynalora_tokens_per_s", median(Case.STEP_DYNALORA, "tokens_per_s"));
        step.put("pytorch_tokens_per_s", median(Case.STEP_PYTORCH, "tokens_per_s"));
        step.put("ratio", median(Case.STEP_DYNALORA, "tokens_per_s") / median(Case.STEP_PYTORCH, "tokens_per_s"));
        step.put("dynalora_peak_rss_mb", median(Case.STEP_DYNALORA, "peak_rss_mb"));
        step.put("pytorch_peak_rss_mb", median(Case.STEP_PYTORCH, "peak_rss_mb"));
        ObjectNode gen = o.putObject("generate");
        gen.put("batch", 1);
        gen.put("prompt_len", s.promptLen());
        gen.put("new_tokens", s.newTokens());
        gen.put("threads", s.generateThreads());
        gen.put("dynalora_tokens_per_s_incl_prefill", median(Case.GENERATE_DYNALORA, "tokens_per_s_incl_prefill"));
        gen.put("dynalora_decode_tokens_per_s", median(Case.GENERATE_DYNALORA, "tokens_per_s"));
        gen.put("pytorch_tokens_per_s", median(Case.GENERATE_PYTORCH, "tokens_per_s"));
        gen.put("ratio", median(Case.GENERATE_DYNALORA, "tokens_per_s_incl_prefill") / median(Case.GENERATE_PYTORCH, "tokens_per_s"));
        gen.put("dynalora_peak_rss_mb", median(Case.GENERATE_DYNALORA, "peak_rss_mb"));
        gen.put("pytorch_peak_rss_mb", median(Case.GENERATE_PYTORCH, "peak_rss_mb"));
        ArrayNode raw = o.putArray("raw");
        for (Case c : Case.values()) {
            for (JsonNode r : results.get(c)) {
                ObjectNode line = raw.addObject();
                line.put("case", c.label());
                line.set("result", r);
            }
        }
        return o;
    }

    public String markdown() {
        ObjectNode j = toJson();
        JsonNode st = j.get("lora_step");
        JsonNode g = j.get("generate");
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "Decoder speed, medians of %d rounds (%s)%n%n", s.rounds(), s.model().getFileName()));
        b.append("| measurement | dynalora tokens/s | PyTorch tokens/s | ratio | dynalora peak RSS MB | PyTorch peak RSS MB |\n");
        b.append("| --- | ---: | ---: | ---: | ---: | ---: |\n");
        b.append(String.format(Locale.ROOT, "| LoRA step, batch %d x %d, r %d on %s, %d threads | %.1f | %.1f | %.2fx | %.0f | %.0f |%n",
                s.batch(), s.seq(), s.rank(), s.targets(), s.stepThreads(), st.get("dynalora_tokens_per_s").asDouble(),
                st.get("pytorch_tokens_per_s").asDouble(), st.get("ratio").asDouble(), st.get("dynalora_peak_rss_mb").asDouble(),
                st.get("pytorch_peak_rss_mb").asDouble()));
        b.append(String.format(Locale.ROOT, "| greedy generation, batch 1, %d-token prompt, %d new tokens, %d thread(s), prefill included | %.1f | %.1f | %.2fx | %.0f | %.0f |%n",
                s.promptLen(), s.newTokens(), s.generateThreads(), g.get("dynalora_tokens_per_s_incl_prefill").asDouble(),
                g.get("pytorch_tokens_per_s").asDouble(), g.get("ratio").asDouble(), g.get("dynalora_peak_rss_mb").asDouble(),
                g.get("pytorch_peak_rss_mb").asDouble()));
        b.append(String.format(Locale.ROOT, "%nOur generation decode steps alone: %.1f tokens/s.%n", g.get("dynalora_decode_tokens_per_s").asDouble()));
        return b.toString();
    }
}
