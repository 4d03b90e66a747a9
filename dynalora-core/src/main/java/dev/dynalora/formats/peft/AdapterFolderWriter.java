package dev.dynalora.formats.peft;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.UserInputException;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.formats.AtomicFiles;
import dev.dynalora.formats.SafetensorsWriter;
import dev.dynalora.models.AdaptableModel;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.PeftLayout;
import dev.dynalora.tensor.Param;
import dev.dynalora.tensor.Tensor;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** What the LoRA and AdaLoRA writers share: the head, the common config fields, and writing the folder. */
final class AdapterFolderWriter {
    private static final ObjectMapper JSON = new ObjectMapper();

    private AdapterFolderWriter() {
    }

    /** PEFT saves the head whole (modules_to_save), so it cannot carry an adapter of its own. */
    static void checkHeadUnadapted(AdaptableModel model) {
        for (LinearModule head : model.peftLayout().headModules()) {
            if (head.adapter() != null) {
                throw new UserInputException("cannot save a PEFT adapter: head module " + head.name()
                        + " carries an adapter, but PEFT saves the head whole (modules_to_save); merge it first");
            }
        }
    }

    /** The head (BERT's pooler and classifier; nothing for a causal LM), as PEFT saves modules_to_save. */
    static void putHead(Map<String, Tensor> tensors, AdaptableModel model) {
        PeftLayout layout = model.peftLayout();
        for (Param p : model.headParams()) {
            tensors.put(PeftKeys.fileKey(layout, p.name()), p.value());
        }
    }

    /**
     * The LoraConfig fields LoRA and AdaLoRA files share, sorted as PEFT writes them (json.dumps(...,
     * sort_keys=True)); the caller adds peft_type, r, rank_pattern, alpha_pattern, use_rslora and its own fields.
     */
    static Map<String, Object> sharedConfigFields(LoraConfig cfg, AdaptableModel model, List<String> adapted,
                                                  String baseModelPath) {
        PeftLayout layout = model.peftLayout();
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
        config.put("lora_alpha", LoraScaling.number(LoraScaling.plain(cfg.alpha())));
        config.put("lora_dropout", LoraScaling.number(LoraScaling.plain(cfg.dropout())));
        config.put("megatron_config", null);
        config.put("megatron_core", "megatron.core");
        config.put("modules_to_save", layout.modulesToSave());
        config.put("revision", null);
        config.put("target_modules", TargetModules.forFile(cfg, model, adapted));
        config.put("task_type", layout.taskType());
        config.put("use_dora", false);
        return config;
    }

    /**
     * Weights, then config, each written atomically (the folder is created). Weights first: a folder with a config
     * but no weights would look complete to PEFT. PEFT reads none of the weights' metadata beyond "format".
     */
    static void writeFolder(Path dir, Map<String, Tensor> tensors, Map<String, Object> config,
                            Map<String, String> metadata) {
        byte[] json;
        try {
            json = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(config);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise the adapter config", e); // maps of plain values cannot fail
        }
        SafetensorsWriter.write(dir.resolve(PeftFiles.WEIGHTS_FILE), tensors, metadata);
        AtomicFiles.writeBytes(dir.resolve(PeftFiles.CONFIG_FILE), json);
    }
}
