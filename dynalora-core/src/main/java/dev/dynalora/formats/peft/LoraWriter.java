package dev.dynalora.formats.peft;

import dev.dynalora.UserInputException;
import dev.dynalora.adapters.LinearAdapter;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.models.AdaptableModel;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.PeftLayout;
import dev.dynalora.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Writes LoRA and Dynamic LoRA adapters in the layout of PEFT's save_pretrained for peft_type LORA.
 *
 * <p>It exports what the adapters compute, exactly: a Dynamic LoRA adapter with a component mask is written
 * with only its active components (rank r' = active count, in {@code rank_pattern}), and wherever
 * {@code lora_alpha / r'} would not give back the adapter's scaling s, {@code alpha_pattern} carries an alpha'
 * that does (alpha' = s r' is exact in double, so PEFT, which computes in double, gets s as well).
 */
final class LoraWriter {
    private LoraWriter() {
    }

    /** See {@link PeftAdapters#save}. */
    static void save(Path dir, AdaptableModel model, LoraConfig cfg, String baseModelPath, Map<String, Tensor> extraTensors) {
        Objects.requireNonNull(dir, "dir");
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(cfg, "cfg");
        AdapterFolderWriter.checkHeadUnadapted(model);
        PeftLayout layout = model.peftLayout();
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        Map<String, Integer> rankPattern = new LinkedHashMap<>();
        Map<String, Object> alphaPattern = new LinkedHashMap<>();
        List<String> adapted = new ArrayList<>();
        boolean perToken = false;
        double alpha = LoraScaling.plain(cfg.alpha());
        for (LinearModule m : model.linearModules()) {
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
            tensors.put(PeftKeys.fileKey(layout, m.name() + ".lora_A.weight"),
                    new Tensor(new int[] {e.rank, a.loraA().value().dim(1)}, e.a));
            tensors.put(PeftKeys.fileKey(layout, m.name() + ".lora_B.weight"),
                    new Tensor(new int[] {a.loraB().value().dim(0), e.rank}, e.b));
            if (a.gated()) {
                tensors.put(PeftKeys.fileKey(layout, a.gateWeight().name()), a.gateWeight().value());
                tensors.put(PeftKeys.fileKey(layout, a.gateBias().name()), a.gateBias().value());
                if (a.gateCentre() != null) {
                    tensors.put(PeftKeys.fileKey(layout, m.name() + ".lora_gate.centre"),
                            new Tensor(new int[] {a.gateCentre().length}, a.gateCentre().clone()));
                }
                perToken |= a.gatePerToken();
            }
            // Keys are our whole module paths: PEFT matches them with re.match("(.*\.)?(key)$") against the Hugging
            // Face name ("bert.<path>" for BERT, the path itself for Llama) and LoraConfig.rankFor against the path,
            // so both find exactly this module.
            if (e.rank != cfg.rank()) {
                rankPattern.put(m.name(), e.rank);
            }
            if (!e.zero && LoraScaling.scalingOf(alpha, e.rank, cfg.rsLora()) != a.scaling()) {
                alphaPattern.put(m.name(), LoraScaling.number(LoraScaling.alphaFor(a.scaling(), e.rank, cfg.rsLora(), m.name())));
            }
        }
        if (adapted.isEmpty()) {
            throw new UserInputException("cannot save a PEFT adapter: the model has no LoRA adapter attached");
        }
        AdapterFolderWriter.putHead(tensors, model);
        if (extraTensors != null) {
            for (Map.Entry<String, Tensor> x : extraTensors.entrySet()) {
                String key = PeftKeys.fileKey(layout, x.getKey());
                Tensor old = tensors.get(key);
                if (old != null && !(Arrays.equals(old.shape(), x.getValue().shape())
                        && Arrays.equals(old.data(), x.getValue().data()))) {
                    throw new IllegalArgumentException("extra tensor " + x.getKey() + " clashes with " + key
                            + ", which the adapter file holds anyway with other values");
                }
                tensors.put(key, x.getValue());
            }
        }

        Map<String, Object> config = AdapterFolderWriter.sharedConfigFields(cfg, model, adapted, baseModelPath);
        config.put("alpha_pattern", alphaPattern);
        config.put("peft_type", "LORA");
        config.put("r", cfg.rank());
        config.put("rank_pattern", rankPattern);
        config.put("use_rslora", cfg.rsLora());
        // The gate's kind goes in the weights file's metadata, not in adapter_config.json, whose unknown fields
        // some PEFT versions refuse.
        AdapterFolderWriter.writeFolder(dir, tensors, config, perToken
                ? Map.of("format", "pt", PeftFiles.GATE_METADATA, PeftFiles.GATE_PER_TOKEN)
                : Map.of("format", "pt"));
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
}
