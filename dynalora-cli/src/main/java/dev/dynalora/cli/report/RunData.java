package dev.dynalora.cli.report;

import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What a report shows of one run folder, as read (and checked) by {@link RunReader}: the configuration, the
 * train and eval records of metrics.jsonl, its summary and diverged records when present, and the records of
 * allocation.jsonl (AdaLoRA and Dynamic LoRA). Numbers that the run wrote as null (NaN or infinite) are null.
 */
public record RunData(
        Path dir,
        String name,
        ObjectNode config,
        List<TrainPoint> train,
        List<EvalPoint> evals,
        ObjectNode summary,
        ObjectNode diverged,
        List<AllocationRecord> allocation) {

    /** The method: from the summary, else from run_config.json. */
    public String method() {
        return text("method");
    }

    public String task() {
        return text("task");
    }

    public String model() {
        return text("model");
    }

    private String text(String key) {
        if (summary != null && summary.path(key).isTextual()) {
            return summary.get(key).asText();
        }
        return config.path(key).isTextual() ? config.get(key).asText() : null;
    }

    /** One "train" line of metrics.jsonl. */
    public record TrainPoint(long step, Double epoch, Double loss, Double lr, Double gradNorm, Double tokensPerS) {
    }

    /** One "eval" line of metrics.jsonl: dev metrics after an epoch. */
    public record EvalPoint(double epoch, Long step, String split, Double trainLoss, Map<String, Double> metrics) {
    }

    /**
     * One allocation.jsonl line; {@code step} as written there (the index of the step just taken, from 0),
     * modules in file order.
     */
    public record AllocationRecord(long step, Long budget, Map<String, ModuleStat> modules) {
    }

    /** A module's state in an allocation record; fields a method does not log are null. */
    public record ModuleStat(int rank, Double importance, Double gateMean, Double gateStd, Double gateMin,
                             Double gateMax, Long gateExamples) {
    }
}
