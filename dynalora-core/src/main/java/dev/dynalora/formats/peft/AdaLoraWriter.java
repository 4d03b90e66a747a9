package dev.dynalora.formats.peft;

import dev.dynalora.UserInputException;
import dev.dynalora.adapters.AdaLoraAdapter;
import dev.dynalora.adapters.AdaLoraAllocator;
import dev.dynalora.adapters.LinearAdapter;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.models.AdaptableModel;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.PeftLayout;
import dev.dynalora.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Writes an AdaLoRA model in the layout of PEFT's {@code save_pretrained} for peft_type ADALORA
 * (docs/peft-format.md, "AdaLoRA files"):
 * <pre>
 *   base_model.model.bert.encoder.layer.0.attention.self.query.lora_A   [r', in]
 *   base_model.model.bert.encoder.layer.0.attention.self.query.lora_E   [r', 1]
 *   base_model.model.bert.encoder.layer.0.attention.self.query.lora_B   [out, r']
 *   base_model.model.bert.pooler.dense.weight / .bias, base_model.model.classifier.weight / .bias
 * </pre>
 * (for a Llama: {@code base_model.model.model.layers.0.self_attn.q_proj.lora_A} ..., and no head). No ".weight"
 * after lora_A/E/B: PEFT keeps them in ParameterDicts. {@code rank_pattern} maps the Hugging Face name of each
 * module's lora_E ({@code bert.<module>.lora_E}) to one boolean per initial triplet, and the tensors hold only the
 * triplets marked true, as PEFT's resize_state_dict_by_rank_pattern leaves them; ranknum, which PEFT does not
 * save, stays init_r on load, so the scaling is unchanged.
 *
 * <p>A triplet is written iff its E is non-zero. The allocator prunes by setting E to zero, so after the final
 * mask (t_final &gt; 0, the default) this is exactly the allocator's rank pattern; a triplet with E = 0
 * contributes exactly nothing, so leaving it out changes no output, and one the optimizer regrew after the last
 * masking (possible with t_final = 0) is one the trained model uses, so it is kept. The file then computes what
 * the model evaluated, and the rule needs only the model, not the allocator's state.
 */
final class AdaLoraWriter {
    /**
     * LoraConfig's r, which AdaLoRA ignores (it uses init_r); PEFT warns "Note that `r` is not used in AdaLora"
     * whenever r differs from this default, so the file keeps the default.
     */
    static final int UNUSED_R = 8;

    private AdaLoraWriter() {
    }

    /** See {@link PeftAdapters#saveAdaLora}. */
    static void save(Path dir, AdaptableModel model, LoraConfig cfg, AdaLoraAllocator.Config schedule,
                     String baseModelPath) {
        Objects.requireNonNull(dir, "dir");
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(cfg, "cfg");
        Objects.requireNonNull(schedule, "schedule");
        AdapterFolderWriter.checkHeadUnadapted(model);
        PeftLayout layout = model.peftLayout();
        // PEFT's SVDLinear scales by lora_alpha (r when alpha <= 0) for every module alike: no alpha_pattern.
        float scaling = cfg.alpha() > 0 ? cfg.alpha() : schedule.initR();
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        Map<String, List<Boolean>> rankPattern = new LinkedHashMap<>();
        List<String> adapted = new ArrayList<>();
        for (LinearModule m : model.linearModules()) {
            LinearAdapter la = m.adapter();
            if (la == null) {
                continue;
            }
            if (!(la instanceof AdaLoraAdapter a)) {
                throw new UserInputException("cannot save module " + m.name() + " as a PEFT AdaLoRA adapter: its adapter is a "
                        + la.getClass().getSimpleName() + ", not AdaLoRA");
            }
            if (a.rank() != schedule.initR() || a.scaling() != scaling) {
                throw new IllegalArgumentException("adapter of " + m.name() + " has init_r " + a.rank() + " and scaling "
                        + a.scaling() + ", but the config says init_r " + schedule.initR() + " and lora_alpha " + cfg.alpha());
            }
            adapted.add(m.name());
            boolean[] kept = kept(a);
            List<Boolean> flags = new ArrayList<>();
            for (boolean k : kept) {
                flags.add(k);
            }
            rankPattern.put(PeftKeys.adaLoraPatternKey(layout, m.name()), flags);
            putKept(tensors, layout, a, kept);
        }
        if (adapted.isEmpty()) {
            throw new UserInputException("cannot save a PEFT AdaLoRA adapter: the model has no AdaLoRA adapter attached");
        }
        AdapterFolderWriter.putHead(tensors, model);

        Map<String, Object> config = AdapterFolderWriter.sharedConfigFields(cfg, model, adapted, baseModelPath);
        config.put("alpha_pattern", Map.of());
        config.put("peft_type", "ADALORA");
        config.put("r", UNUSED_R);
        config.put("rank_pattern", rankPattern);
        config.put("use_rslora", false); // SVDLinear has no rsLoRA scaling
        config.put("target_r", schedule.targetR());
        config.put("init_r", schedule.initR());
        config.put("tinit", schedule.tinit());
        config.put("tfinal", schedule.tfinal());
        config.put("deltaT", schedule.deltaT());
        config.put("beta1", schedule.beta1());
        config.put("beta2", schedule.beta2());
        config.put("orth_reg_weight", schedule.orthRegWeight());
        config.put("total_step", schedule.totalStep());
        AdapterFolderWriter.writeFolder(dir, tensors, config, Map.of("format", "pt"));
    }

    /** Triplet j is kept iff E[j] != 0 (a pruned triplet has E = 0 and adds exactly nothing). */
    static boolean[] kept(AdaLoraAdapter a) {
        float[] e = a.loraE().data();
        boolean[] k = new boolean[e.length];
        for (int j = 0; j < e.length; j++) {
            k[j] = e[j] != 0f;
        }
        return k;
    }

    /** lora_A rows, lora_E entries and lora_B columns of the kept triplets, in their order. */
    private static void putKept(Map<String, Tensor> tensors, PeftLayout layout, AdaLoraAdapter a, boolean[] kept) {
        int r = a.rank();
        int in = a.in();
        int out = a.out();
        int n = 0;
        for (boolean k : kept) {
            n += k ? 1 : 0;
        }
        float[] av = a.loraA().data();
        float[] ev = a.loraE().data();
        float[] bv = a.loraB().data();
        float[] a2 = new float[n * in];
        float[] e2 = new float[n];
        float[] b2 = new float[out * n];
        int t = 0;
        for (int j = 0; j < r; j++) {
            if (!kept[j]) {
                continue;
            }
            System.arraycopy(av, j * in, a2, t * in, in);
            e2[t] = ev[j];
            for (int o = 0; o < out; o++) {
                b2[o * n + t] = bv[o * r + j];
            }
            t++;
        }
        tensors.put(PeftKeys.fileKey(layout, a.loraA().name()), new Tensor(new int[] {n, in}, a2));
        tensors.put(PeftKeys.fileKey(layout, a.loraE().name()), new Tensor(new int[] {n, 1}, e2));
        tensors.put(PeftKeys.fileKey(layout, a.loraB().name()), new Tensor(new int[] {out, n}, b2));
    }
}
