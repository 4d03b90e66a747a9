package dev.dynalora.models;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.dynalora.UserInputException;
import dev.dynalora.adapters.AdaLoraAdapter;
import dev.dynalora.adapters.AdaLoraAllocator;
import dev.dynalora.adapters.LinearAdapter;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.formats.AtomicFiles;
import dev.dynalora.formats.FormatErrors;
import dev.dynalora.formats.SafetensorsReader;
import dev.dynalora.formats.SafetensorsWriter;
import dev.dynalora.tensor.Param;
import dev.dynalora.tensor.Tensor;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Reads and writes LoRA adapters as Hugging Face PEFT does ({@code PeftModel.save_pretrained} /
 * {@code from_pretrained}) for a {@code BertForSequenceClassification} with task_type SEQ_CLS: a folder with
 * {@code adapter_config.json} and {@code adapter_model.safetensors}. docs/peft-format.md describes the format
 * and cites the PEFT sources it follows; in short, tensor keys are the PEFT model's state-dict keys with the
 * adapter name removed:
 * <pre>
 *   base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight   [r, in]
 *   base_model.model.bert.encoder.layer.0.attention.self.query.lora_B.weight   [out, r]
 *   base_model.model.bert.pooler.dense.weight / .bias                         (modules_to_save)
 *   base_model.model.classifier.weight / .bias                                (modules_to_save)
 *   base_model.model.bert.encoder.layer.0.attention.self.query.lora_gate.weight / .bias   (ours; PEFT ignores)
 * </pre>
 *
 * <p>AdaLoRA models are written by {@link #saveAdaLora} ({@link PeftAdaLoraWriter}) in PEFT's ADALORA layout and
 * read back as {@link AdaLoraAdapter}s.
 *
 * <p>Saving exports what the adapters compute, exactly: a Dynamic LoRA adapter with a component mask is
 * written with only its active components (rank r' = active count, in {@code rank_pattern}), and wherever
 * {@code lora_alpha / r'} would not give back the adapter's scaling s, {@code alpha_pattern} carries an alpha'
 * that does (alpha' = s r' is exact in double, so PEFT, which computes in double, gets s as well).
 */
public final class PeftAdapterIO {
    public static final String CONFIG_FILE = "adapter_config.json";
    public static final String WEIGHTS_FILE = "adapter_model.safetensors";
    /** Metadata key of the weights file naming the kind of Dynamic LoRA gate; absent means per example. */
    public static final String GATE_METADATA = "dynalora_gate";
    public static final String GATE_PER_EXAMPLE = "per_example";
    public static final String GATE_PER_TOKEN = "per_token";
    /** PeftModel.base_model (the LoraModel) .model (the wrapped BertForSequenceClassification). */
    static final String PREFIX = "base_model.model.";
    /** The BertModel inside BertForSequenceClassification; our parameter names leave it out. */
    static final String BERT = "bert.";
    /** What PEFT writes to modules_to_save for SEQ_CLS ("classifier", "score" come from PeftModelForSequenceClassification). */
    static final List<String> MODULES_TO_SAVE = List.of("pooler", "classifier", "score");
    /** The linear modules of a BERT classifier by last path component: what target_modules names usually. */
    static final List<String> LINEAR_LEAVES = List.of("query", "key", "value", "dense");

    /** Strict like the project's other readers: a duplicate key or trailing garbage is an error. */
    private static final ObjectMapper JSON = JsonMapper.builder(JsonFactory.builder()
                    .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                    .build())
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private PeftAdapterIO() {
    }

    /** The key PEFT uses for one of our parameter names (classifier.* sits beside bert, not inside it). */
    static String fileKey(String name) {
        if (name.startsWith(PREFIX)) {
            return name;
        }
        return name.startsWith("classifier.") ? PREFIX + name : PREFIX + BERT + name;
    }

    // ------------------------------------------------------------------------------------------------ save

    /**
     * Writes {@code dir/adapter_config.json} and {@code dir/adapter_model.safetensors} (F32), each atomically,
     * creating the folder: every LoRA adapter of the encoder (active components only), the gates of gated
     * adapters, the head (pooler and classifier, as modules_to_save) and {@code extraTensors}. An extra tensor's
     * key is one of our parameter names (put under {@code base_model.model.bert.} like the rest) or a full file
     * key starting with {@code base_model.model.}; one that repeats a key written anyway must hold the same values.
     *
     * @param cfg           the LoRA settings the adapters were built with (r, lora_alpha, target_modules,
     *                      use_rslora, lora_dropout); per-module ranks and alphas are taken from the adapters
     * @param baseModelPath written as base_model_name_or_path (may be null)
     * @throws UserInputException if the model carries an adapter that is not LoRA, or a file cannot be written
     */
    public static void save(Path dir, SequenceClassifier model, LoraConfig cfg, String baseModelPath,
                            Map<String, Tensor> extraTensors) {
        Objects.requireNonNull(dir, "dir");
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(cfg, "cfg");
        checkHeadUnadapted(model);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        Map<String, Integer> rankPattern = new LinkedHashMap<>();
        Map<String, Object> alphaPattern = new LinkedHashMap<>();
        List<String> adapted = new ArrayList<>();
        boolean perToken = false;
        double alpha = plain(cfg.alpha());
        for (LinearModule m : model.encoder().linearModules()) {
            LinearAdapter la = m.adapter();
            if (la == null) {
                continue;
            }
            if (!(la instanceof LoraAdapter a)) {
                throw new UserInputException("cannot save module " + m.name() + " as a PEFT LoRA adapter: its adapter is a "
                        + la.getClass().getSimpleName() + ", not LoRA; merge it and export the whole model instead");
            }
            adapted.add(m.name());
            Exported e = export(a);
            tensors.put(fileKey(m.name() + ".lora_A.weight"), new Tensor(new int[] {e.rank, a.loraA().value().dim(1)}, e.a));
            tensors.put(fileKey(m.name() + ".lora_B.weight"), new Tensor(new int[] {a.loraB().value().dim(0), e.rank}, e.b));
            if (a.gated()) {
                tensors.put(fileKey(a.gateWeight().name()), a.gateWeight().value());
                tensors.put(fileKey(a.gateBias().name()), a.gateBias().value());
                perToken |= a.gatePerToken();
            }
            // Keys are whole module paths without "bert.": PEFT matches them with re.match("(.*\.)?(key)$") against
            // "bert.<path>" and LoraConfig.rankFor against "<path>", so both find exactly this module.
            if (e.rank != cfg.rank()) {
                rankPattern.put(m.name(), e.rank);
            }
            if (!e.zero && scalingOf(alpha, e.rank, cfg.rsLora()) != a.scaling()) {
                alphaPattern.put(m.name(), number(alphaFor(a.scaling(), e.rank, cfg.rsLora(), m.name())));
            }
        }
        if (adapted.isEmpty()) {
            throw new UserInputException("cannot save a PEFT adapter: the model has no LoRA adapter attached");
        }
        putHead(tensors, model);
        if (extraTensors != null) {
            for (Map.Entry<String, Tensor> x : extraTensors.entrySet()) {
                String key = fileKey(x.getKey());
                Tensor old = tensors.get(key);
                if (old != null && !(Arrays.equals(old.shape(), x.getValue().shape())
                        && Arrays.equals(old.data(), x.getValue().data()))) {
                    throw new IllegalArgumentException("extra tensor " + x.getKey() + " clashes with " + key
                            + ", which the adapter file holds anyway with other values");
                }
                tensors.put(key, x.getValue());
            }
        }

        Map<String, Object> config = loraConfigFields(cfg, model, adapted, baseModelPath);
        config.put("alpha_pattern", alphaPattern);
        config.put("peft_type", "LORA");
        config.put("r", cfg.rank());
        config.put("rank_pattern", rankPattern);
        config.put("use_rslora", cfg.rsLora());
        // The gate's kind goes in the weights file's metadata, not in adapter_config.json, whose unknown fields
        // some PEFT versions refuse.
        writeFolder(dir, tensors, config, perToken ? Map.of("format", "pt", GATE_METADATA, GATE_PER_TOKEN)
                : Map.of("format", "pt"));
    }

    /**
     * Writes an AdaLoRA model's adapter folder as PEFT's save_pretrained does for peft_type ADALORA: per adapted
     * module lora_A, lora_E and lora_B (no ".weight"), resized to the kept triplets, with a boolean rank_pattern;
     * the head as for LoRA. See {@link PeftAdaLoraWriter}.
     *
     * @param schedule the AdaLoRA settings the run trained with (init_r, target_r, tinit, tfinal, deltaT, betas,
     *                 orth_reg_weight, total_step), written as AdaLoraConfig's fields
     */
    public static void saveAdaLora(Path dir, SequenceClassifier model, LoraConfig cfg, AdaLoraAllocator.Config schedule,
                                   String baseModelPath) {
        PeftAdaLoraWriter.save(dir, model, cfg, schedule, baseModelPath);
    }

    /** PEFT saves the head whole (modules_to_save), so it cannot carry an adapter of its own. */
    static void checkHeadUnadapted(SequenceClassifier model) {
        for (LinearModule head : List.of(model.pooler(), model.classifier())) {
            if (head.adapter() != null) {
                throw new UserInputException("cannot save a PEFT adapter: head module " + head.name()
                        + " carries an adapter, but PEFT saves the head whole (modules_to_save); merge it first");
            }
        }
    }

    /** The head (pooler and classifier), as PEFT saves modules_to_save. */
    static void putHead(Map<String, Tensor> tensors, SequenceClassifier model) {
        for (Param p : model.headParams()) {
            tensors.put(fileKey(p.name()), p.value());
        }
    }

    /**
     * The LoraConfig fields LoRA and AdaLoRA files share, sorted as PEFT writes them (json.dumps(...,
     * sort_keys=True)); the caller adds peft_type, r, rank_pattern, alpha_pattern, use_rslora and its own fields.
     */
    static Map<String, Object> loraConfigFields(LoraConfig cfg, SequenceClassifier model, List<String> adapted,
                                                String baseModelPath) {
        Map<String, Object> config = new TreeMap<>();
        config.put("auto_mapping", null);
        config.put("base_model_name_or_path", baseModelPath);
        config.put("bias", "none");
        config.put("fan_in_fan_out", false);
        config.put("inference_mode", true); // PEFT's save_pretrained always writes true
        config.put("init_lora_weights", true);
        config.put("layers_pattern", null);
        config.put("layers_to_transform", null);
        config.put("loftq_config", Map.of());
        config.put("lora_alpha", number(plain(cfg.alpha())));
        config.put("lora_dropout", number(plain(cfg.dropout())));
        config.put("megatron_config", null);
        config.put("megatron_core", "megatron.core");
        config.put("modules_to_save", MODULES_TO_SAVE);
        config.put("revision", null);
        config.put("target_modules", targetModules(cfg, model, adapted));
        config.put("task_type", "SEQ_CLS");
        config.put("use_dora", false);
        return config;
    }

    /** Weights, then config, each written atomically (the folder is created). */
    static void writeFolder(Path dir, Map<String, Tensor> tensors, Map<String, Object> config) {
        writeFolder(dir, tensors, config, Map.of("format", "pt"));
    }

    /** As above with the weights file's metadata given (PEFT reads none of it beyond "format"). */
    static void writeFolder(Path dir, Map<String, Tensor> tensors, Map<String, Object> config,
                            Map<String, String> metadata) {
        byte[] json;
        try {
            json = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(config);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise the adapter config", e); // maps of plain values cannot fail
        }
        // Weights first: a folder with a config but no weights would look complete to PEFT.
        SafetensorsWriter.write(dir.resolve(WEIGHTS_FILE), tensors, metadata);
        AtomicFiles.writeBytes(dir.resolve(CONFIG_FILE), json);
    }

    /** An adapter's active components: A' [rank, in], B' [out, rank]. */
    private record Exported(int rank, float[] a, float[] b, boolean zero) {
    }

    /**
     * Keeps the rows of A and columns of B whose mask entry is non-zero (B's column times the mask value, which
     * is 1 for a plain active component, so the copy is exact). With every component pruned, PEFT cannot express
     * rank 0 for LoRA; a rank-1 adapter of zeros computes the same nothing.
     */
    private static Exported export(LoraAdapter ad) {
        int r = ad.rank();
        int in = ad.loraA().value().dim(1);
        int out = ad.loraB().value().dim(0);
        float[] mask = ad.componentMask();
        float[] a = ad.loraA().data();
        float[] b = ad.loraB().data();
        int[] active = new int[r];
        int n = 0;
        for (int j = 0; j < r; j++) {
            if (mask == null || mask[j] != 0f) {
                active[n++] = j;
            }
        }
        if (n == 0) {
            return new Exported(1, new float[in], new float[out], true);
        }
        float[] a2 = new float[n * in];
        float[] b2 = new float[out * n];
        for (int k = 0; k < n; k++) {
            int j = active[k];
            System.arraycopy(a, j * in, a2, k * in, in);
            float f = mask == null ? 1f : mask[j];
            for (int o = 0; o < out; o++) {
                b2[o * n + k] = f == 1f ? b[o * r + j] : b[o * r + j] * f;
            }
        }
        return new Exported(n, a2, b2, false);
    }

    /**
     * The scaling a loader gets from alpha and r: alpha / r (alpha / sqrt(r) with rsLoRA) in double, as PEFT
     * computes it in Python, rounded to float as it is applied to float32 tensors.
     */
    static float scalingOf(double alpha, int r, boolean rsLora) {
        return (float) (rsLora ? alpha / Math.sqrt(r) : alpha / r);
    }

    /**
     * An alpha with scalingOf(alpha, r) == s. Without rsLoRA, s * r is exact in double (24 + 31 bits < 53), and so
     * is its division by r; with rsLoRA the double error is far below half a float ulp of s, but we check anyway.
     */
    private static double alphaFor(float s, int r, boolean rsLora, String module) {
        double alpha = rsLora ? s * Math.sqrt(r) : (double) s * r;
        double up = alpha;
        double down = alpha;
        for (int i = 0; i < 64; i++) {
            if (scalingOf(up, r, rsLora) == s) {
                return up;
            }
            if (scalingOf(down, r, rsLora) == s) {
                return down;
            }
            up = Math.nextUp(up);
            down = Math.nextDown(down);
        }
        throw new IllegalStateException("no alpha reproduces scaling " + s + " at rank " + r + " for " + module);
    }

    /**
     * A float as the decimal it was most likely typed as (0.1f as 0.1, not 0.10000000149011612): what a PEFT user
     * writes and reads. Scalings are checked against this value, so nothing depends on it being exact.
     */
    static double plain(float f) {
        return Double.parseDouble(Float.toString(f));
    }

    /** Integral values as JSON integers (lora_alpha = 16, not 16.0), others as the exact double. */
    static Object number(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return (long) v;
        }
        return v;
    }

    /**
     * target_modules for the file. The configured list is kept when PEFT's rule on its module names
     * ({@code name == t or name.endswith("." + t)}, over every linear of BertForSequenceClassification, the
     * pooler and classifier included) picks exactly the adapted modules and each entry ends in a linear's
     * name (so no container module such as "attention" matches); otherwise, and for a regular expression
     * (Java and Python regex differ, and PEFT matches it against "bert.<path>"), the explicit module paths.
     */
    static List<String> targetModules(LoraConfig cfg, SequenceClassifier model, List<String> adapted) {
        if (cfg.targetRegex() == null && !cfg.targetModules().isEmpty()) {
            boolean clean = true;
            for (String t : cfg.targetModules()) {
                String leaf = t.substring(t.lastIndexOf('.') + 1);
                clean &= LINEAR_LEAVES.contains(leaf) || leaf.equals("classifier");
            }
            List<String> peftNames = new ArrayList<>();
            for (LinearModule m : model.encoder().linearModules()) {
                peftNames.add(BERT + m.name());
            }
            peftNames.add(BERT + model.pooler().name());
            peftNames.add(model.classifier().name());
            Set<String> picked = new LinkedHashSet<>();
            for (String n : peftNames) {
                for (String t : cfg.targetModules()) {
                    if (n.equals(t) || n.endsWith("." + t)) {
                        picked.add(n.startsWith(BERT) ? n.substring(BERT.length()) : n);
                    }
                }
            }
            if (clean && picked.equals(new LinkedHashSet<>(adapted))) {
                return cfg.targetModules();
            }
        }
        return adapted;
    }

    // ------------------------------------------------------------------------------------------------ load

    /** One module's tensors as found in the file. */
    private static final class Found {
        final LinearModule module;
        String aKey;
        String bKey;
        String eKey;
        String gateWKey;
        String gateBKey;
        int rank; // lora_A's rank in the file, once checked

        Found(LinearModule module) {
            this.module = module;
        }
    }

    /**
     * Reads an adapter folder written by {@link #save}, {@link #saveAdaLora} or by PEFT (LoRA or AdaLoRA) into
     * {@code model}: every encoder module named in the file gets a {@link LoraAdapter} (an {@link AdaLoraAdapter}
     * for peft_type ADALORA) with the file's weights
     * (replacing whatever adapter it had; modules the file does not name lose theirs), and the file's other
     * tensors (the head, biases with bias = "all") overwrite the model's. Nothing changes unless the whole
     * folder is valid. Keys may have the {@code base_model.model.} prefix and the {@code bert.} part or not.
     *
     * <p>The scaling of each module follows PEFT: r and alpha come from rank_pattern / alpha_pattern (first
     * key K, in file order, with {@code (.*\.)?(K)$} matching {@code bert.<path>}) or r / lora_alpha, and the
     * file's lora_A must have that rank. An AdaLoRA file (lora_A, lora_E, lora_B per module; the adapter name
     * gone from the keys, ranknum not saved, tensors cut to the triplets its boolean rank_pattern keeps) becomes an
     * AdaLoraAdapter of init_r triplets with the kept ones at their positions, computing what PEFT's SVDLinear
     * does with ranknum = init_r: (x (A * E)^T B^T) lora_alpha / (init_r + 1e-5).
     *
     * @return the settings of the file (rank_pattern / alpha_pattern keys with any "bert." prefix removed; for
     *     AdaLoRA, r = init_r and rank_pattern the number of triplets kept where fewer than init_r)
     * @throws UserInputException for a missing folder or file, a peft_type other than LORA / ADALORA, DoRA,
     *     a key naming a module or parameter the model lacks, or a shape that disagrees with the model or config
     */
    public static LoraConfig load(Path dir, SequenceClassifier model) {
        Objects.requireNonNull(dir, "dir");
        Objects.requireNonNull(model, "model");
        if (!Files.exists(dir)) {
            throw new UserInputException(dir + ": adapter folder does not exist");
        }
        if (!Files.isDirectory(dir)) {
            throw new UserInputException(dir + ": expected an adapter folder with " + CONFIG_FILE + " and "
                    + WEIGHTS_FILE + ", got a file");
        }
        Path cfgFile = dir.resolve(CONFIG_FILE);
        if (!Files.isRegularFile(cfgFile)) {
            throw new UserInputException(dir + ": no " + CONFIG_FILE + " in this adapter folder");
        }
        Path wFile = dir.resolve(WEIGHTS_FILE);
        if (!Files.isRegularFile(wFile)) {
            if (Files.exists(dir.resolve("adapter_model.bin"))) {
                throw new UserInputException(dir + ": has adapter_model.bin (a PyTorch pickle), which cannot be read;"
                        + " save the adapter with safe_serialization=True to get " + WEIGHTS_FILE);
            }
            throw new UserInputException(dir + ": no " + WEIGHTS_FILE + " in this adapter folder");
        }
        Cfg c = Cfg.read(cfgFile);
        List<String> moduleNames = new ArrayList<>();
        for (LinearModule m : model.encoder().linearModules()) {
            moduleNames.add(m.name());
        }
        moduleNames.add(model.pooler().name());
        moduleNames.add(model.classifier().name());
        c.checkMatchCost(moduleNames);

        Map<String, LinearModule> linears = new LinkedHashMap<>();
        for (LinearModule m : model.encoder().linearModules()) {
            linears.put(m.name(), m);
        }
        Map<String, Param> params = new LinkedHashMap<>();
        for (Param p : model.allParams()) {
            params.put(p.name(), p);
        }
        String example = model.encoder().linearModules().get(0).name();

        Map<String, Found> found = new LinkedHashMap<>();
        Map<Param, String> plain = new LinkedHashMap<>();
        Map<LinearModule, LinearAdapter> built = new LinkedHashMap<>();
        Map<Param, float[]> values = new LinkedHashMap<>();
        Map<String, String> seen = new LinkedHashMap<>();
        try (SafetensorsReader r = SafetensorsReader.open(wFile)) {
            for (String key : r.names()) {
                String k = key.startsWith(PREFIX) ? key.substring(PREFIX.length()) : key;
                k = k.startsWith(BERT) ? k.substring(BERT.length()) : k;
                String before = seen.put(k, key);
                if (before != null) {
                    throw new UserInputException(wFile + ": tensors " + FormatErrors.quote(before) + " and "
                            + FormatErrors.quote(key) + " are the same parameter");
                }
                String[] split = splitLoraKey(k);
                if (split == null) {
                    if (k.contains("lora_")) {
                        throw new UserInputException(wFile + ": tensor " + FormatErrors.quote(key) + " is not a LoRA weight this"
                                + " program supports (lora_A, lora_B, lora_E, lora_gate on linear layers)");
                    }
                    Param p = params.get(k);
                    if (p == null) {
                        throw new UserInputException(wFile + ": tensor " + FormatErrors.quote(key) + " names a parameter the model lacks"
                                + " (parameter names look like " + fileKey(params.keySet().iterator().next()) + ")");
                    }
                    plain.put(p, key);
                    continue;
                }
                String moduleName = split[0];
                LinearModule m = linears.get(moduleName);
                if (m == null) {
                    throw new UserInputException(wFile + ": tensor " + FormatErrors.quote(key) + " names module " + FormatErrors.quote(moduleName)
                            + ", which the model does not have as an adaptable linear layer (those look like "
                            + example + ")");
                }
                Found f = found.computeIfAbsent(moduleName, n -> new Found(m));
                switch (split[1]) {
                    case "A" -> f.aKey = key;
                    case "B" -> f.bKey = key;
                    case "E" -> f.eKey = key;
                    case "gw" -> f.gateWKey = key;
                    default -> f.gateBKey = key;
                }
            }
            if (found.isEmpty()) {
                throw new UserInputException(wFile + ": holds no LoRA weights (no key ends in lora_A.weight)");
            }
            for (Found f : found.values()) {
                LinearAdapter a = build(f, r, c, wFile);
                if (a != null) {
                    built.put(f.module, a);
                }
            }
            for (Map.Entry<Param, String> e : plain.entrySet()) {
                int[] want = e.getKey().value().shape();
                int[] got = r.shape(e.getValue());
                if (!Arrays.equals(want, got)) {
                    throw new UserInputException(wFile + ": tensor " + FormatErrors.quote(e.getValue()) + " has shape "
                            + shapeText(got) + " but the model's " + e.getKey().name() + " is " + Arrays.toString(want)
                            + (e.getKey().name().startsWith("classifier.") ? " (a different number of labels?)" : ""));
                }
                values.put(e.getKey(), r.readFloat(e.getValue()));
            }
        }
        // All checked: now change the model.
        for (LinearModule m : linears.values()) {
            m.setAdapter(built.get(m));
        }
        for (Map.Entry<Param, float[]> e : values.entrySet()) {
            System.arraycopy(e.getValue(), 0, e.getKey().data(), 0, e.getValue().length);
        }
        return c.toLoraConfig(found, cfgFile);
    }

    /**
     * Splits "path.lora_A.weight" (or AdaLoRA's "path.lora_A") into the module path and the role: A, B, E,
     * gw (gate weight), gb (gate bias); null for anything else.
     */
    private static String[] splitLoraKey(String k) {
        String[][] suffixes = {
                {".lora_A.weight", "A"}, {".lora_A", "A"}, {".lora_B.weight", "B"}, {".lora_B", "B"},
                {".lora_E.weight", "E"}, {".lora_E", "E"}, {".lora_gate.weight", "gw"}, {".lora_gate.bias", "gb"}};
        for (String[] s : suffixes) {
            if (k.endsWith(s[0]) && k.length() > s[0].length()) {
                return new String[] {k.substring(0, k.length() - s[0].length()), s[1]};
            }
        }
        return null;
    }

    /** The adapter for one module, all shapes checked; null for an AdaLoRA module pruned to rank 0. */
    private static LinearAdapter build(Found f, SafetensorsReader r, Cfg c, Path wFile) {
        LinearModule m = f.module;
        String where = wFile + ": module " + m.name() + ": ";
        if (f.aKey == null || f.bKey == null) {
            throw new UserInputException(where + "has " + (f.aKey == null ? "lora_B but no lora_A" : "lora_A but no lora_B"));
        }
        if (c.adaLora != (f.eKey != null)) {
            throw new UserInputException(where + (c.adaLora ? "has no lora_E, which an AdaLoRA adapter needs"
                    : "has lora_E (AdaLoRA) but " + CONFIG_FILE + " says peft_type LORA"));
        }
        if ((f.gateWKey == null) != (f.gateBKey == null)) {
            throw new UserInputException(where + "has only one of lora_gate.weight and lora_gate.bias");
        }
        int[] as = r.shape(f.aKey);
        int[] bs = r.shape(f.bKey);
        if (as.length != 2 || as[1] != m.in()) {
            throw new UserInputException(where + "lora_A has shape " + shapeText(as) + " but the layer takes "
                    + m.in() + " inputs (expected [r, " + m.in() + "])");
        }
        int rank = as[0];
        if (bs.length != 2 || bs[0] != m.out() || bs[1] != rank) {
            throw new UserInputException(where + "lora_B has shape " + shapeText(bs) + ", expected ["
                    + m.out() + ", " + rank + "] for lora_A of rank " + rank);
        }
        f.rank = rank;
        if (c.adaLora) {
            if (f.gateWKey != null) {
                throw new UserInputException(where + "has lora_gate tensors, which only LoRA adapters can have");
            }
            return adaLora(f, r, c, where);
        }
        float[] a = r.readFloat(f.aKey);
        float[] b = r.readFloat(f.bKey);
        String peftName = BERT + m.name();
        int want = c.rankFor(peftName);
        if (rank != want) {
            throw new UserInputException(where + "lora_A has rank " + rank + " but " + CONFIG_FILE
                    + " implies r = " + want + " for this module (r / rank_pattern)");
        }
        if (rank == 0) {
            throw new UserInputException(where + "lora_A has rank 0");
        }
        float scaling = scalingOf(c.alphaFor(peftName), rank, c.rsLora);
        boolean gated = f.gateWKey != null;
        LoraAdapter ad = new LoraAdapter(m.name(), m.in(), m.out(), scaling, a, b, gated);
        String gateKind = r.metadata().getOrDefault(GATE_METADATA, GATE_PER_EXAMPLE);
        if (gated && !gateKind.equals(GATE_PER_EXAMPLE) && !gateKind.equals(GATE_PER_TOKEN)) {
            throw new UserInputException(wFile + ": metadata " + GATE_METADATA + " is " + FormatErrors.quote(gateKind)
                    + ", expected " + GATE_PER_EXAMPLE + " or " + GATE_PER_TOKEN);
        }
        ad.setGatePerToken(gated && gateKind.equals(GATE_PER_TOKEN));
        if (gated) {
            int[] gw = r.shape(f.gateWKey);
            int[] gb = r.shape(f.gateBKey);
            if (!Arrays.equals(gw, new int[] {m.in()}) || !Arrays.equals(gb, new int[] {1})) {
                throw new UserInputException(where + "lora_gate.weight / .bias have shapes " + shapeText(gw)
                        + " / " + shapeText(gb) + ", expected [" + m.in() + "] / [1]");
            }
            System.arraycopy(r.readFloat(f.gateWKey), 0, ad.gateWeight().data(), 0, m.in());
            ad.gateBias().data()[0] = r.readFloat(f.gateBKey)[0];
        }
        return ad;
    }

    /**
     * An AdaLoRA module as PEFT loads it: an SVDLinear of init_r triplets whose ranknum stays init_r
     * (resize_modules_by_rank_pattern copies it back), so y += (x (A * E)^T B^T) * lora_alpha / (init_r + 1e-5).
     * The file's r' triplets go back to the positions among init_r that rank_pattern marks true (in order; without
     * an entry, the first r'); the other positions get A, E and B zero and add nothing. Keeping init_r, rather than
     * building a rank-r' adapter, leaves every matrix product the shape it had in training, so a saved and reloaded
     * model computes bit for bit what the trained one did. Null when the module keeps no triplet.
     */
    private static AdaLoraAdapter adaLora(Found f, SafetensorsReader r, Cfg c, String where) {
        LinearModule m = f.module;
        int rank = f.rank;
        int[] es = r.shape(f.eKey);
        boolean eOk = (es.length == 2 && es[0] == rank && es[1] == 1) || (es.length == 1 && es[0] == rank);
        if (!eOk) {
            throw new UserInputException(where + "lora_E has shape " + shapeText(es) + ", expected [" + rank + ", 1]");
        }
        int initR = c.initR;
        boolean[] pattern = c.adaLoraPattern(m.name());
        int[] slot = new int[rank];
        if (pattern != null && rank != initR) {
            int kept = 0;
            for (int j = 0; j < initR; j++) {
                if (pattern[j]) {
                    if (kept < rank) {
                        slot[kept] = j;
                    }
                    kept++;
                }
            }
            if (kept != rank) {
                throw new UserInputException(where + "lora_A has rank " + rank + " but the rank_pattern of "
                        + CONFIG_FILE + " keeps " + kept + " of " + initR + " components");
            }
        } else {
            // The whole init_r (PEFT leaves a module whose pattern keeps everything unresized), or no pattern entry.
            if (rank > initR) {
                throw new UserInputException(where + "lora_A has rank " + rank + ", more than init_r = " + initR
                        + " in " + CONFIG_FILE);
            }
            for (int t = 0; t < rank; t++) {
                slot[t] = t;
            }
        }
        if (rank == 0) {
            return null; // AdaLoRA pruned every component: the module adds nothing
        }
        int in = m.in();
        int out = m.out();
        float[] a = r.readFloat(f.aKey);
        float[] e = r.readFloat(f.eKey);
        float[] b = r.readFloat(f.bKey);
        float[] a2 = new float[initR * in];
        float[] e2 = new float[initR];
        float[] b2 = new float[out * initR];
        for (int t = 0; t < rank; t++) {
            int j = slot[t];
            System.arraycopy(a, t * in, a2, j * in, in);
            e2[j] = e[t];
            for (int o = 0; o < out; o++) {
                b2[o * initR + j] = b[o * rank + t];
            }
        }
        return new AdaLoraAdapter(m.name(), in, out, (float) c.alpha, a2, e2, b2);
    }

    /** A shape from the file for an error message, cut after 8 dimensions: a corrupt header may hold thousands. */
    private static String shapeText(int[] shape) {
        if (shape.length <= 8) {
            return Arrays.toString(shape);
        }
        String head = Arrays.toString(Arrays.copyOf(shape, 8));
        return head.substring(0, head.length() - 1) + ", ... (" + shape.length + " dimensions)]";
    }

    /** The fields of adapter_config.json that decide what the weights compute. */
    private static final class Cfg {
        final Path file;
        final boolean adaLora;
        final int r;
        final int initR;
        final double alpha;
        final boolean rsLora;
        final double dropout;
        final Map<String, Integer> rankPattern = new LinkedHashMap<>();
        final Map<String, Double> alphaPattern = new LinkedHashMap<>();
        final Map<String, boolean[]> adaPattern = new LinkedHashMap<>(); // AdaLoRA: module path -> kept flags
        final List<String> targetList = new ArrayList<>();
        String targetRegex;

        private Cfg(Path file, JsonNode root) {
            this.file = file;
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
            // PEFT defaults (LoraConfig / AdaLoraConfig dataclass fields) for what a file may leave out.
            r = integer(root, "r", 8);
            initR = integer(root, "init_r", 12);
            alpha = number(root, "lora_alpha", 8);
            rsLora = bool(root, "use_rslora", false);
            dropout = number(root, "lora_dropout", 0);
            if (r < 1 && !adaLora) {
                throw new UserInputException(file + ": \"r\" must be at least 1, got " + r);
            }
            if (adaLora && initR < 1) {
                throw new UserInputException(file + ": \"init_r\" must be at least 1, got " + initR);
            }
            JsonNode rp = root.get("rank_pattern");
            if (rp != null && !rp.isNull()) {
                if (!rp.isObject()) {
                    throw new UserInputException(file + ": \"rank_pattern\" must be an object, got " + snippet(rp));
                }
                for (Iterator<Map.Entry<String, JsonNode>> it = rp.fields(); it.hasNext(); ) {
                    Map.Entry<String, JsonNode> e = it.next();
                    if (adaLora) {
                        // AdaLoRA: "bert.encoder...query.lora_E" -> [true, false, ...], one flag per initial triplet.
                        adaPattern.put(modulePathOfAdaKey(e.getKey()), flags(e.getKey(), e.getValue()));
                    } else {
                        JsonNode v = e.getValue();
                        if (!v.isIntegralNumber() || !v.canConvertToInt() || v.intValue() < 1) {
                            throw new UserInputException(file + ": rank_pattern " + FormatErrors.quote(e.getKey())
                                    + " must be a positive integer, got " + snippet(v));
                        }
                        rankPattern.put(checkedPattern(e.getKey(), "pattern key"), v.intValue());
                    }
                }
            }
            JsonNode ap = root.get("alpha_pattern");
            if (ap != null && !ap.isNull()) {
                if (!ap.isObject()) {
                    throw new UserInputException(file + ": \"alpha_pattern\" must be an object, got " + snippet(ap));
                }
                for (Iterator<Map.Entry<String, JsonNode>> it = ap.fields(); it.hasNext(); ) {
                    Map.Entry<String, JsonNode> e = it.next();
                    if (!e.getValue().isNumber()) {
                        throw new UserInputException(file + ": alpha_pattern " + FormatErrors.quote(e.getKey()) + " must be a number, got "
                                + snippet(e.getValue()));
                    }
                    alphaPattern.put(checkedPattern(e.getKey(), "pattern key"), e.getValue().doubleValue());
                }
            }
            JsonNode tm = root.get("target_modules");
            if (tm != null && tm.isArray()) {
                for (JsonNode t : tm) {
                    targetList.add(t.asText());
                }
            } else if (tm != null && tm.isTextual()) {
                if (tm.textValue().equals("all-linear")) {
                    targetList.addAll(LINEAR_LEAVES);
                } else {
                    targetRegex = checkedPattern(tm.textValue(), "target_modules pattern");
                }
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

        static Cfg read(Path file) {
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
            return new Cfg(file, root);
        }

        /**
         * A regular expression from the file, checked in every form it is matched in: as written (target_modules),
         * in PEFT's {@code (.*\.)?(K)$} (patternKey) and, without "bert.", in LoraConfig's {@code (.*\.)?K$}
         * (what {@link #toLoraConfig} hands on). Otherwise a bad key ("\\Q", or "bert.*x", which is "*x" once
         * "bert." is gone) would surface later as a PatternSyntaxException instead of an error naming the file.
         */
        private String checkedPattern(String key, String what) {
            for (String p : List.of(key, "(.*\\.)?(" + key + ")$", "(.*\\.)?" + stripBert(key) + "$")) {
                try {
                    Pattern.compile(p);
                } catch (PatternSyntaxException e) {
                    throw new UserInputException(file + ": " + what + " " + FormatErrors.quote(key)
                            + " is not a valid regular expression" + (p.equals(key) ? "" : " when matched as "
                            + FormatErrors.quote(p)) + ": " + FormatErrors.oneLine(e.getDescription()));
                }
            }
            return key;
        }

        /**
         * Matches every pattern of the file against every module name of the model, in each form it will be matched
         * in (here and by the returned LoraConfig), within the file's step budget: a pattern with runaway
         * backtracking (ReDoS, e.g. "(.*.*.*.*.*)*z") fails here with a message instead of hanging the load or,
         * later, the trainer.
         */
        void checkMatchCost(List<String> moduleNames) {
            for (String k : rankAndAlphaKeys()) {
                Pattern peft = Pattern.compile("(.*\\.)?(" + k + ")$");
                Pattern ours = Pattern.compile("(.*\\.)?" + stripBert(k) + "$");
                for (String name : moduleNames) {
                    boundedMatch(peft, BERT + name, k);
                    boundedMatch(ours, name, k);
                }
            }
            if (targetRegex != null) {
                Pattern p = Pattern.compile(targetRegex);
                for (String name : moduleNames) {
                    boundedMatch(p, name, targetRegex);
                }
            }
        }

        private Set<String> rankAndAlphaKeys() {
            Set<String> keys = new LinkedHashSet<>(rankPattern.keySet());
            keys.addAll(alphaPattern.keySet());
            return keys;
        }

        /** PEFT's get_pattern_key: the first key K (file order) with re.match(r"(.*\.)?(K)$", name). */
        private String patternKey(Set<String> keys, String name) {
            for (String k : keys) {
                if (boundedMatch(Pattern.compile("(.*\\.)?(" + k + ")$"), name, k)) {
                    return k;
                }
            }
            return null;
        }

        /**
         * Characters all matching of one file's patterns may read: rank_pattern and alpha_pattern with a key for
         * every module of BERT-large read about 1.1 * 10^7 here, a runaway pattern billions. Shared by all matches,
         * so many slow keys cannot add up to a hang either.
         */
        private long matchSteps = 100_000_000L;

        private boolean boundedMatch(Pattern p, String name, String key) {
            CharSequence budgeted = new CharSequence() {
                @Override
                public int length() {
                    return name.length();
                }

                @Override
                public char charAt(int index) {
                    if (--matchSteps < 0) {
                        throw new UserInputException(file + ": pattern " + FormatErrors.quote(key)
                                + " takes too long to match module names (runaway backtracking?); simplify the patterns");
                    }
                    return name.charAt(index);
                }

                @Override
                public CharSequence subSequence(int start, int end) {
                    return name.subSequence(start, end);
                }

                @Override
                public String toString() {
                    return name;
                }
            };
            try {
                return p.matcher(budgeted).matches();
            } catch (StackOverflowError e) {
                throw new UserInputException(file + ": pattern " + FormatErrors.quote(key)
                        + " is too deeply nested to match module names");
            }
        }

        int rankFor(String peftName) {
            String k = patternKey(rankPattern.keySet(), peftName);
            return k == null ? r : rankPattern.get(k);
        }

        double alphaFor(String peftName) {
            String k = patternKey(alphaPattern.keySet(), peftName);
            return k == null ? alpha : alphaPattern.get(k);
        }

        boolean[] adaLoraPattern(String modulePath) {
            return adaPattern.get(modulePath);
        }

        private static String modulePathOfAdaKey(String key) {
            String k = key.startsWith(PREFIX) ? key.substring(PREFIX.length()) : key;
            k = k.startsWith(BERT) ? k.substring(BERT.length()) : k;
            k = k.endsWith(".default") ? k.substring(0, k.length() - ".default".length()) : k;
            for (String s : List.of(".lora_E", ".lora_A", ".lora_B")) {
                if (k.endsWith(s)) {
                    return k.substring(0, k.length() - s.length());
                }
            }
            return k;
        }

        private static String stripBert(String key) {
            String k = key.startsWith(PREFIX) ? key.substring(PREFIX.length()) : key;
            return k.startsWith(BERT) ? k.substring(BERT.length()) : k;
        }

        LoraConfig toLoraConfig(Map<String, Found> found, Path cfgFile) {
            Set<String> modules = found.keySet();
            try {
                if (adaLora) {
                    // r = init_r; rank_pattern: the triplets the file keeps, for each module that keeps fewer.
                    Map<String, Integer> ranks = new LinkedHashMap<>();
                    for (Found f : found.values()) {
                        if (f.rank != initR) {
                            ranks.put(f.module.name(), f.rank);
                        }
                    }
                    return new LoraConfig(initR, (float) alpha, List.copyOf(modules), null, ranks, Map.of(), false,
                            (float) dropout, 0L);
                }
                Map<String, Integer> ranks = new LinkedHashMap<>();
                rankPattern.forEach((k, v) -> ranks.put(stripBert(k), v));
                Map<String, Float> alphas = new LinkedHashMap<>();
                alphaPattern.forEach((k, v) -> alphas.put(stripBert(k), v.floatValue()));
                List<String> targets = targetList.isEmpty() && targetRegex == null ? List.copyOf(modules) : targetList;
                return new LoraConfig(r, (float) alpha, targets, targetRegex, ranks, alphas, rsLora, (float) dropout, 0L);
            } catch (UserInputException e) {
                throw new UserInputException(cfgFile + ": " + e.getMessage(), e);
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
}
