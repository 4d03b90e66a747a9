package dev.dynalora.cli.report;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Which settings that change what the curves mean differ between overlaid runs: runs on different data amounts
 * (--limit, --eval-limit), tasks, models, sequence lengths or epochs are drawn on the same axes, and a reader
 * must be told so rather than take one curve's lead for the method's. Methods, learning rates, ranks and seeds
 * are what a comparison usually varies, so they are not flagged.
 */
public final class Comparability {
    /** run_config.json keys compared, with the flag a user knows them by. */
    private static final String[][] KEYS = {
            {"task", "--task"}, {"model", "--model"}, {"train_limit", "--limit"}, {"eval_limit", "--eval-limit"},
            {"max_len", "--max-len"}, {"epochs", "--epochs"}, {"batch", "--batch"}};

    private Comparability() {
    }

    /** One entry per differing setting, e.g. "--limit (64, 640)"; empty for one run or runs that agree. */
    public static List<String> differences(List<RunData> runs) {
        List<String> out = new ArrayList<>();
        if (runs.size() < 2) {
            return out;
        }
        for (String[] key : KEYS) {
            Set<String> values = new LinkedHashSet<>();
            for (RunData r : runs) {
                JsonNode v = r.config().get(key[0]);
                values.add(v == null || v.isNull() ? "?" : display(key[0], v));
            }
            if (values.size() > 1) {
                out.add(key[1] + " (" + String.join(", ", values) + ")");
            }
        }
        return out;
    }

    /** The one-line note for standard error and the report's header; null when the runs are comparable. */
    public static String note(List<RunData> runs) {
        List<String> d = differences(runs);
        if (d.isEmpty()) {
            return null;
        }
        return "the runs differ in " + String.join(", ", d) + ", so their curves and scores are not directly comparable";
    }

    private static String display(String key, JsonNode v) {
        if ((key.equals("train_limit") || key.equals("eval_limit")) && v.asInt() == 0) {
            return "all";
        }
        return v.asText();
    }
}
