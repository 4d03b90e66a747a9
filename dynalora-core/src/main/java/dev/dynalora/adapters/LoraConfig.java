package dev.dynalora.adapters;

import dev.dynalora.ConfigException;
import dev.dynalora.Setting;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * LoRA settings with PEFT's names and matching rules (LoraConfig in peft/tuners/lora/config.py):
 * target_modules is either a list of names, each matching a module whose path equals it or ends with
 * "." + name, or one regular expression that must match the whole path; rank_pattern and alpha_pattern
 * map a key to a rank (alpha) for modules whose path matches "(.*\.)?key$".
 */
public record LoraConfig(int rank, float alpha, List<String> targetModules, String targetRegex,
                         Map<String, Integer> rankPattern, Map<String, Float> alphaPattern,
                         boolean rsLora, float dropout, long seed) {

    public LoraConfig {
        if (rank < 1) {
            throw new ConfigException(Setting.RANK, "must be at least 1, got " + rank);
        }
        if (!(dropout >= 0f && dropout < 1f)) {
            throw new ConfigException(Setting.LORA_DROPOUT, "must be in [0, 1), got " + dropout);
        }
        targetModules = targetModules == null ? List.of() : List.copyOf(targetModules);
        rankPattern = rankPattern == null ? Map.of() : Map.copyOf(new LinkedHashMap<>(rankPattern));
        alphaPattern = alphaPattern == null ? Map.of() : Map.copyOf(new LinkedHashMap<>(alphaPattern));
    }

    /**
     * Parses a run's targets setting: a comma-separated list of module names (query,value) or, if it holds
     * regular-expression syntax, one pattern matched against the whole module path.
     */
    public static LoraConfig of(int rank, float alpha, String targets, boolean rsLora, float dropout, long seed) {
        if (targets == null || targets.isBlank()) {
            throw new ConfigException(Setting.TARGETS, "is empty: name the modules to adapt, e.g. query,value");
        }
        if (targets.chars().anyMatch(c -> "*[]()|^$\\+?{}".indexOf(c) >= 0)) {
            try {
                Pattern.compile(targets);
            } catch (PatternSyntaxException e) {
                throw new ConfigException(Setting.TARGETS, "is not a valid regular expression: " + e.getDescription());
            }
            return new LoraConfig(rank, alpha, List.of(), targets, Map.of(), Map.of(), rsLora, dropout, seed);
        }
        List<String> names = Arrays.stream(targets.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
        return new LoraConfig(rank, alpha, names, null, Map.of(), Map.of(), rsLora, dropout, seed);
    }

    public LoraConfig withRankPattern(Map<String, Integer> pattern) {
        return new LoraConfig(rank, alpha, targetModules, targetRegex, pattern, alphaPattern, rsLora, dropout, seed);
    }

    /** Whether the module at this path is adapted. */
    public boolean targets(String modulePath) {
        if (targetRegex != null) {
            return Pattern.compile(targetRegex).matcher(modulePath).matches();
        }
        for (String t : targetModules) {
            if (modulePath.equals(t) || modulePath.endsWith("." + t)) {
                return true;
            }
        }
        return false;
    }

    public int rankFor(String modulePath) {
        for (Map.Entry<String, Integer> e : rankPattern.entrySet()) {
            if (Pattern.compile("(.*\\.)?" + e.getKey() + "$").matcher(modulePath).matches()) {
                return e.getValue();
            }
        }
        return rank;
    }

    public float alphaFor(String modulePath) {
        for (Map.Entry<String, Float> e : alphaPattern.entrySet()) {
            if (Pattern.compile("(.*\\.)?" + e.getKey() + "$").matcher(modulePath).matches()) {
                return e.getValue();
            }
        }
        return alpha;
    }
}
