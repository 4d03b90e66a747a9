package dev.dynalora.formats.peft;

import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.models.AdaptableModel;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.PeftLayout;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/** adapter_config.json's target_modules: what to write so that PEFT adapts exactly our modules, and "all-linear". */
final class TargetModules {
    private TargetModules() {
    }

    /**
     * target_modules for the file. The configured list is kept when PEFT's rule on its module names
     * ({@code name == t or name.endswith("." + t)}, over every linear of the transformers model, output layers
     * such as BERT's pooler and classifier or Llama's lm_head included) picks exactly the adapted modules and
     * each entry ends in some linear's name (so no container module such as "attention" or "mlp" matches);
     * otherwise, and for a regular expression (Java and Python regex differ, and PEFT matches it against the
     * Hugging Face name, "bert.<path>" for BERT), the explicit module paths.
     */
    static List<String> forFile(LoraConfig cfg, AdaptableModel model, List<String> adapted) {
        if (cfg.targetRegex() != null || cfg.targetModules().isEmpty()) {
            return adapted;
        }
        PeftLayout layout = model.peftLayout();
        List<String> peftNames = new ArrayList<>();
        for (LinearModule m : model.linearModules()) {
            peftNames.add(layout.hfName(m.name()));
        }
        for (LinearModule m : layout.outputLinears()) {
            peftNames.add(layout.hfName(m.name()));
        }
        Set<String> leaves = new LinkedHashSet<>();
        for (String n : peftNames) {
            leaves.add(leaf(n));
        }
        boolean clean = true;
        for (String t : cfg.targetModules()) {
            clean &= leaves.contains(leaf(t));
        }
        Set<String> picked = new LinkedHashSet<>();
        for (String n : peftNames) {
            for (String t : cfg.targetModules()) {
                if (n.equals(t) || n.endsWith("." + t)) {
                    picked.add(n);
                }
            }
        }
        Set<String> wanted = new LinkedHashSet<>();
        for (String a : adapted) {
            wanted.add(layout.hfName(a));
        }
        return clean && picked.equals(wanted) ? cfg.targetModules() : adapted;
    }

    /**
     * What PEFT's "all-linear" adapts, as a target list for our LoraConfig: the distinct last path components of
     * the model's adapter targets (query, key, value, dense for BERT; q_proj ... down_proj for Llama). PEFT leaves
     * the output layer out, and so do our targets.
     */
    static List<String> allLinear(AdaptableModel model) {
        Set<String> leaves = new LinkedHashSet<>();
        for (LinearModule m : model.linearModules()) {
            leaves.add(m.shortName());
        }
        return List.copyOf(leaves);
    }

    private static String leaf(String name) {
        return name.substring(name.lastIndexOf('.') + 1);
    }
}
