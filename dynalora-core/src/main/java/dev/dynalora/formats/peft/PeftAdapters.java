package dev.dynalora.formats.peft;

import dev.dynalora.UserInputException;
import dev.dynalora.adapters.AdaLoraAdapter;
import dev.dynalora.adapters.AdaLoraAllocator;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.models.AdaptableModel;
import dev.dynalora.tensor.Tensor;

import java.nio.file.Path;
import java.util.Map;

/**
 * Reads and writes adapters as Hugging Face PEFT does ({@code PeftModel.save_pretrained} / {@code from_pretrained}):
 * a folder with {@code adapter_config.json} and {@code adapter_model.safetensors}, for any model family through
 * its {@link dev.dynalora.models.PeftLayout} (a BERT classifier as task_type SEQ_CLS, a Llama causal LM as
 * CAUSAL_LM). docs/peft-format.md describes the format and cites the PEFT sources it follows; in short, tensor keys
 * are the PEFT model's state-dict keys with the adapter name removed:
 * <pre>
 *   base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight   [r, in]
 *   base_model.model.bert.encoder.layer.0.attention.self.query.lora_B.weight   [out, r]
 *   base_model.model.bert.pooler.dense.weight / .bias                         (modules_to_save)
 *   base_model.model.classifier.weight / .bias                                (modules_to_save)
 *   base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight            (a Llama; no head saved)
 *   base_model.model.&lt;module&gt;.lora_gate.weight / .bias                        (ours, Dynamic LoRA; PEFT ignores)
 * </pre>
 */
public final class PeftAdapters {
    private PeftAdapters() {
    }

    /**
     * Writes {@code dir/adapter_config.json} and {@code dir/adapter_model.safetensors} (F32), each atomically,
     * creating the folder: every LoRA adapter of the model's adapter targets (active components only, so that a
     * masked Dynamic LoRA adapter loads as plain LoRA computing the same), the gates of gated adapters, the head
     * PEFT saves whole (modules_to_save; none for a causal LM) and {@code extraTensors}. An extra tensor's key is one
     * of our parameter names (put under {@code base_model.model.} and the family's prefix like the rest) or a full
     * file key starting with {@code base_model.model.}; one that repeats a key written anyway must hold the same values.
     *
     * @param cfg           the LoRA settings the adapters were built with (r, lora_alpha, target_modules,
     *                      use_rslora, lora_dropout); per-module ranks and alphas are taken from the adapters and
     *                      written as rank_pattern / alpha_pattern where they differ from r / lora_alpha
     * @param baseModelPath written as base_model_name_or_path (may be null)
     * @param extraTensors  more tensors to write (may be null)
     * @throws UserInputException if the model carries an adapter that is not LoRA, a head module carries one, no
     *     module has one, or a file cannot be written
     */
    public static void save(Path dir, AdaptableModel model, LoraConfig cfg, String baseModelPath,
                            Map<String, Tensor> extraTensors) {
        LoraWriter.save(dir, model, cfg, baseModelPath, extraTensors);
    }

    /**
     * Writes an AdaLoRA model's adapter folder as PEFT's save_pretrained does for peft_type ADALORA: per adapted
     * module lora_A, lora_E and lora_B (no ".weight"), resized to the kept triplets, with a boolean rank_pattern;
     * the head as for LoRA.
     *
     * @param schedule the AdaLoRA settings the run trained with (init_r, target_r, tinit, tfinal, deltaT, betas,
     *                 orth_reg_weight, total_step), written as AdaLoraConfig's fields
     * @throws UserInputException if an adapter is not AdaLoRA or no module has one
     * @throws IllegalArgumentException if an adapter's init_r or scaling disagrees with cfg and schedule
     */
    public static void saveAdaLora(Path dir, AdaptableModel model, LoraConfig cfg, AdaLoraAllocator.Config schedule,
                                   String baseModelPath) {
        AdaLoraWriter.save(dir, model, cfg, schedule, baseModelPath);
    }

    /**
     * Reads an adapter folder written by {@link #save}, {@link #saveAdaLora} or by PEFT (LoRA or AdaLoRA) into
     * {@code model}: every adapter target named in the file gets a {@link LoraAdapter} (an {@link AdaLoraAdapter} for
     * peft_type ADALORA) with the file's weights (replacing whatever adapter it had; modules the file does not name
     * lose theirs), and the file's other tensors (the head, biases with bias = "all") overwrite the model's. Nothing
     * changes unless the whole folder is valid. Keys may have the {@code base_model.model.} prefix and the family's
     * prefix ({@code bert.}) or not.
     *
     * <p>The scaling of each module follows PEFT: r and alpha come from rank_pattern / alpha_pattern (first key K, in
     * file order, with {@code (.*\.)?(K)$} matching the module's Hugging Face name) or r / lora_alpha, and the file's
     * lora_A must have that rank. An AdaLoRA file (lora_A, lora_E, lora_B per module; the adapter name gone from the
     * keys, ranknum not saved, tensors cut to the triplets its boolean rank_pattern keeps) becomes an AdaLoraAdapter
     * of init_r triplets with the kept ones at their positions, computing what PEFT's SVDLinear does with ranknum =
     * init_r: (x (A * E)^T B^T) lora_alpha / (init_r + 1e-5).
     *
     * @return the settings of the file (rank_pattern / alpha_pattern keys with the family's prefix removed; for
     *     AdaLoRA, r = init_r and rank_pattern the number of triplets kept where fewer than init_r)
     * @throws UserInputException for a missing folder or file, a peft_type other than LORA / ADALORA, DoRA, a key
     *     naming a module or parameter the model lacks, or a shape that disagrees with the model or config (an
     *     adapter for another base model); one line, naming the file and what does not fit
     */
    public static LoraConfig load(Path dir, AdaptableModel model) {
        return AdapterReader.load(dir, model);
    }
}
