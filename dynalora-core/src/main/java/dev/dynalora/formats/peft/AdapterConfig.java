package dev.dynalora.formats.peft;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.dynalora.UserInputException;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.formats.FormatErrors;
import dev.dynalora.models.PeftLayout;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The fields of an adapter_config.json that decide what the weights compute, with PEFT's defaults (the LoraConfig
 * and AdaLoraConfig dataclass fields) for what a file leaves out, and PEFT's resolution of each module's r and
 * alpha. Every malformed field is a one-line {@link UserInputException} naming the file.
 */
final class AdapterConfig {
    /** Strict like the project's other readers: a duplicate key or trailing garbage is an error. */
    private static final ObjectMapper JSON = JsonMapper.builder(JsonFactory.builder()
                    .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                    .build())
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    final Path file;
    final boolean adaLora;
    final int r;
    final int initR;
    final double alpha;
    final boolean rsLora;
    final double dropout;
    /** base_model_name_or_path, for the hint when the file does not fit the model (null when absent). */
    final String baseModel;
    private final PeftLayout layout;
    private final PatternMatcher patterns;
    private final Map<String, Integer> rankPattern = new LinkedHashMap<>();
    private final Map<String, Double> alphaPattern = new LinkedHashMap<>();
    private final Map<String, boolean[]> adaPattern = new LinkedHashMap<>(); // AdaLoRA: our module name -> kept flags
    private final List<String> targetList = new ArrayList<>();
    private boolean allLinear;
    private String targetRegex;

    private AdapterConfig(Path file, JsonNode root, PeftLayout layout) {
        this.file = file;
        this.layout = layout;
        this.patterns = new PatternMatcher(file, layout);
        String type = string(root, "peft_type", null);
        if (type == null) {
            throw new UserInputException(file + ": missing \"peft_type\" (is this a PEFT adapter config?)");
        }
        if (!type.equals("LORA") && !type.equals("ADALORA")) {
            throw new UserInputException(file + ": peft_type " + FormatErrors.quote(type) + " is not supported (supported: LORA, ADALORA)");
        }
        adaLora = type.equals("ADALORA");
        if (bool(root, "use_dora", false)) {
            throw new UserInputException(file + ": use_dora is true; DoRA adapters are not supported");
        }
        String bias = string(root, "bias", "none");
        if (!List.of("none", "all", "lora_only").contains(bias)) {
            throw new UserInputException(file + ": bias " + FormatErrors.quote(bias) + " is not one of none, all, lora_only");
        }
        r = integer(root, "r", 8);
        initR = integer(root, "init_r", 12);
        alpha = number(root, "lora_alpha", 8);
        rsLora = bool(root, "use_rslora", false);
        dropout = number(root, "lora_dropout", 0);
        JsonNode base = root.get("base_model_name_or_path"); // only for messages: PEFT itself lets it be anything
        baseModel = base != null && base.isTextual() ? base.textValue() : null;
        if (r < 1 && !adaLora) {
            throw new UserInputException(file + ": \"r\" must be at least 1, got " + r);
        }
        if (adaLora && initR < 1) {
            throw new UserInputException(file + ": \"init_r\" must be at least 1, got " + initR);
        }
        readRankPattern(root.get("rank_pattern"));
        readAlphaPattern(root.get("alpha_pattern"));
        JsonNode tm = root.get("target_modules");
        if (tm != null && tm.isArray()) {
            for (JsonNode t : tm) {
                targetList.add(t.asText());
            }
        } else if (tm != null && tm.isTextual()) {
            if (tm.textValue().equals("all-linear")) {
                allLinear = true;
            } else {
                targetRegex = patterns.checked(tm.textValue(), "target_modules pattern");
            }
        }
    }

    /** Reads and checks {@code file}; pattern keys are taken as Hugging Face names of the layout's family. */
    static AdapterConfig read(Path file, PeftLayout layout) {
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(file));
        } catch (CharacterCodingException e) {
            throw new UserInputException(file + ": not valid UTF-8", e);
        } catch (JsonProcessingException e) {
            throw new UserInputException(file + ": not valid JSON: " + FormatErrors.describe(e), e);
        } catch (IOException e) {
            throw new UserInputException(file + ": cannot read: " + FormatErrors.describe(e), e);
        }
        if (root == null || !root.isObject()) {
            throw new UserInputException(file + ": must hold a JSON object");
        }
        return new AdapterConfig(file, root, layout);
    }

    private void readRankPattern(JsonNode rp) {
        if (rp == null || rp.isNull()) {
            return;
        }
        if (!rp.isObject()) {
            throw new UserInputException(file + ": \"rank_pattern\" must be an object, got " + snippet(rp));
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = rp.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (adaLora) {
                // AdaLoRA: "bert.encoder...query.lora_E" -> [true, false, ...], one flag per initial triplet.
                adaPattern.put(PeftKeys.moduleOfAdaLoraPatternKey(layout, e.getKey()), flags(e.getKey(), e.getValue()));
            } else {
                JsonNode v = e.getValue();
                if (!v.isIntegralNumber() || !v.canConvertToInt() || v.intValue() < 1) {
                    throw new UserInputException(file + ": rank_pattern " + FormatErrors.quote(e.getKey())
                            + " must be a positive integer, got " + snippet(v));
                }
                rankPattern.put(patterns.checked(e.getKey(), "pattern key"), v.intValue());
            }
        }
    }

    private void readAlphaPattern(JsonNode ap) {
        if (ap == null || ap.isNull()) {
            return;
        }
        if (!ap.isObject()) {
            throw new UserInputException(file + ": \"alpha_pattern\" must be an object, got " + snippet(ap));
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = ap.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().isNumber()) {
                throw new UserInputException(file + ": alpha_pattern " + FormatErrors.quote(e.getKey()) + " must be a number, got "
                        + snippet(e.getValue()));
            }
            alphaPattern.put(patterns.checked(e.getKey(), "pattern key"), e.getValue().doubleValue());
        }
    }

    /** An AdaLoRA rank_pattern entry: init_r booleans, as PEFT writes them (a bool tensor's tolist()). */
    private boolean[] flags(String key, JsonNode v) {
        if (!v.isArray() || v.size() != initR) {
            throw new UserInputException(file + ": rank_pattern " + FormatErrors.quote(key) + " must be a list of "
                    + initR + " booleans (one per init_r component), got " + snippet(v));
        }
        boolean[] k = new boolean[initR];
        for (int j = 0; j < initR; j++) {
            if (!v.get(j).isBoolean()) {
                throw new UserInputException(file + ": rank_pattern " + FormatErrors.quote(key)
                        + " must hold true or false, got " + snippet(v.get(j)));
            }
            k[j] = v.get(j).booleanValue();
        }
        return k;
    }

    /**
     * Matches every pattern of the file against every module name of the model (our names), in each form it will
     * be matched in (here and by the returned LoraConfig), within the file's step budget: a pattern with runaway
     * backtracking (ReDoS, e.g. "(.*.*.*.*.*)*z") fails here with a message instead of hanging the load or, later,
     * the trainer.
     */
    void checkMatchCost(List<String> moduleNames) {
        Set<String> keys = new LinkedHashSet<>(rankPattern.keySet());
        keys.addAll(alphaPattern.keySet());
        for (String k : keys) {
            Pattern peft = PatternMatcher.peftForm(k);
            Pattern ours = patterns.ourForm(k);
            for (String name : moduleNames) {
                patterns.matches(peft, layout.hfName(name), k);
                patterns.matches(ours, name, k);
            }
        }
        if (targetRegex != null) {
            Pattern p = Pattern.compile(targetRegex);
            for (String name : moduleNames) {
                patterns.matches(p, name, targetRegex);
            }
        }
    }

    /** The rank PEFT gives a module (our name): rank_pattern's first matching key, else r. */
    int rankFor(String module) {
        String k = patterns.patternKey(rankPattern.keySet(), layout.hfName(module));
        return k == null ? r : rankPattern.get(k);
    }

    /** The alpha PEFT gives a module (our name): alpha_pattern's first matching key, else lora_alpha. */
    double alphaFor(String module) {
        String k = patterns.patternKey(alphaPattern.keySet(), layout.hfName(module));
        return k == null ? alpha : alphaPattern.get(k);
    }

    /** AdaLoRA: the kept flags of a module (our name), or null when rank_pattern has no entry for it. */
    boolean[] adaLoraPattern(String module) {
        return adaPattern.get(module);
    }

    /**
     * The settings of the file as our LoraConfig: pattern keys with the family's prefix removed; targets as listed
     * (the loaded modules when the file lists none; "all-linear" as {@code allLinear}); for AdaLoRA, r = init_r and
     * rank_pattern the number of triplets kept where fewer than init_r.
     *
     * @param fileRanks each loaded module (our name, file order) with the rank of its tensors in the file
     */
    LoraConfig toLoraConfig(Map<String, Integer> fileRanks, List<String> allLinearTargets) {
        try {
            if (adaLora) {
                Map<String, Integer> ranks = new LinkedHashMap<>();
                fileRanks.forEach((module, rank) -> {
                    if (rank != initR) {
                        ranks.put(module, rank);
                    }
                });
                return new LoraConfig(initR, (float) alpha, List.copyOf(fileRanks.keySet()), null, ranks, Map.of(), false,
                        (float) dropout, 0L);
            }
            Map<String, Integer> ranks = new LinkedHashMap<>();
            rankPattern.forEach((k, v) -> ranks.put(PeftKeys.ourName(layout, k), v));
            Map<String, Float> alphas = new LinkedHashMap<>();
            alphaPattern.forEach((k, v) -> alphas.put(PeftKeys.ourName(layout, k), v.floatValue()));
            List<String> targets = allLinear ? allLinearTargets
                    : targetList.isEmpty() && targetRegex == null ? List.copyOf(fileRanks.keySet()) : targetList;
            return new LoraConfig(r, (float) alpha, targets, targetRegex, ranks, alphas, rsLora, (float) dropout, 0L);
        } catch (UserInputException e) {
            throw new UserInputException(file + ": " + e.getMessage(), e);
        }
    }

    private String string(JsonNode root, String key, String dflt) {
        JsonNode v = root.get(key);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isTextual()) {
            throw new UserInputException(file + ": \"" + key + "\" must be a string, got " + snippet(v));
        }
        return v.textValue();
    }

    private boolean bool(JsonNode root, String key, boolean dflt) {
        JsonNode v = root.get(key);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isBoolean()) {
            throw new UserInputException(file + ": \"" + key + "\" must be true or false, got " + snippet(v));
        }
        return v.booleanValue();
    }

    private int integer(JsonNode root, String key, int dflt) {
        JsonNode v = root.get(key);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isNumber() || !v.canConvertToExactIntegral() || !v.canConvertToInt()) {
            throw new UserInputException(file + ": \"" + key + "\" must be an integer, got " + snippet(v));
        }
        return v.intValue();
    }

    private double number(JsonNode root, String key, double dflt) {
        JsonNode v = root.get(key);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isNumber() || !Double.isFinite(v.doubleValue())) {
            throw new UserInputException(file + ": \"" + key + "\" must be a number, got " + snippet(v));
        }
        return v.doubleValue();
    }

    private static String snippet(JsonNode v) {
        String s = v.toString();
        return s.length() > 60 ? s.substring(0, 60) + "..." : s;
    }
}
