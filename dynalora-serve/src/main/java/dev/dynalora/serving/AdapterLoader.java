package dev.dynalora.serving;

import dev.dynalora.UserInputException;
import dev.dynalora.adapters.LinearAdapter;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.formats.SafetensorsReader;
import dev.dynalora.formats.peft.PeftAdapters;
import dev.dynalora.formats.peft.PeftFiles;
import dev.dynalora.models.AdaptableModel;
import dev.dynalora.models.CausalLm;
import dev.dynalora.models.HfFolderSpec;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.PeftLayout;
import dev.dynalora.tensor.Param;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads a PEFT adapter folder for serving without touching the shared base model: the folder is read (and
 * checked as strictly as training and generate check it, by {@link PeftAdapters#load}) into a shadow of the
 * base, whose linear modules share the base's weights but carry their own adapter slots. The adapters built
 * there become a {@link ServedAdapter}. Reading happens on any thread, while the scheduler keeps decoding.
 *
 * <p>An adapter file that would overwrite base weights (PEFT's bias = "all" or "lora_only", modules_to_save)
 * cannot share the base with other adapters and is refused, as is a Dynamic LoRA adapter with a gate per
 * example (which a KV cache cannot run; generate refuses it too).
 */
final class AdapterLoader {
    private final CausalLm base;

    AdapterLoader(CausalLm base) {
        this.base = base;
    }

    /** @throws UserInputException naming what is wrong with the folder */
    ServedAdapter load(String name, Path dir) {
        if (!Files.isRegularFile(dir.resolve(PeftFiles.CONFIG_FILE)) && Files.isRegularFile(dir.resolve("config.json"))) {
            throw new UserInputException(dir + ": is a model or run folder, not a PEFT adapter folder (no "
                    + PeftFiles.CONFIG_FILE + "); serve takes adapter folders as generate --adapter and PEFT write them");
        }
        Path weights = dir.resolve(PeftFiles.WEIGHTS_FILE);
        if (Files.isRegularFile(weights)) {
            try (SafetensorsReader r = SafetensorsReader.open(weights)) {
                for (String key : r.names()) {
                    if (!key.contains("lora_")) {
                        throw new UserInputException(weights + ": tensor \"" + key + "\" is a base-model weight (PEFT's"
                                + " bias or modules_to_save); an adapter served beside others may only hold LoRA weights");
                    }
                }
            }
        }
        Shadow shadow = new Shadow(base);
        PeftAdapters.load(dir, shadow);
        LinearAdapter[] modules = new LinearAdapter[shadow.modules.size()];
        for (int i = 0; i < modules.length; i++) {
            LinearModule m = shadow.modules.get(i);
            LinearAdapter a = m.adapter();
            if (a instanceof LoraAdapter l && l.gated() && !l.gatePerToken()) {
                throw new UserInputException(dir + ": the adapter on " + m.name() + " has a gate per example, which depends"
                        + " on the whole sequence and cannot be used with a KV cache");
            }
            modules[i] = a;
        }
        return new ServedAdapter(name, dir, modules);
    }

    /** The base model as PEFT loading sees it, with linear modules of its own (sharing the base's weights). */
    private static final class Shadow implements AdaptableModel {
        final AdaptableModel base;
        final List<LinearModule> modules = new ArrayList<>();

        Shadow(AdaptableModel base) {
            this.base = base;
            for (LinearModule m : base.linearModules()) {
                modules.add(new LinearModule(m.name(), m.weight(), m.bias()));
            }
        }

        @Override
        public List<Param> allParams() {
            return base.allParams();
        }

        @Override
        public List<Param> headParams() {
            return base.headParams();
        }

        @Override
        public List<LinearModule> linearModules() {
            return modules;
        }

        @Override
        public boolean causal() {
            return base.causal();
        }

        @Override
        public String defaultTargets() {
            return base.defaultTargets();
        }

        @Override
        public PeftLayout peftLayout() {
            return base.peftLayout();
        }

        @Override
        public HfFolderSpec hfFolder() {
            return base.hfFolder();
        }
    }
}
