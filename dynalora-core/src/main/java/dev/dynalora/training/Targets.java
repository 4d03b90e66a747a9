package dev.dynalora.training;

import dev.dynalora.models.AdaptableModel;
import dev.dynalora.models.LinearModule;

import java.util.LinkedHashSet;
import java.util.Set;

/** The --targets value of a run, with PEFT's "all-linear" shortcut resolved for the model at hand. */
public final class Targets {
    public static final String ALL_LINEAR = "all-linear";

    private Targets() {
    }

    /**
     * PEFT's "all-linear": every linear module the model can adapt (the encoder's or the decoder blocks'
     * projections; not the classifier, pooler or output head, as PEFT leaves the output layer out), named by
     * their last path component: query,key,value,dense for BERT, q_proj,...,down_proj for Llama. Anything else
     * as given.
     */
    public static String resolve(String targets, AdaptableModel model) {
        if (!ALL_LINEAR.equals(targets)) {
            return targets;
        }
        Set<String> leaves = new LinkedHashSet<>();
        for (LinearModule m : model.linearModules()) {
            String n = m.name();
            leaves.add(n.substring(n.lastIndexOf('.') + 1));
        }
        return String.join(",", leaves);
    }
}
