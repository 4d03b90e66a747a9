package dev.dynalora.models;

import dev.dynalora.Setting;
import dev.dynalora.UserInputException;
import dev.dynalora.UserMessage;
import dev.dynalora.adapters.LinearAdapter;
import dev.dynalora.adapters.LoraAdapter;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Folds adapters into the weights they adapt (W += s B diag(mask) A) so the model runs at the base model's
 * cost, as PEFT's merge_and_unload does, and takes them out again.
 */
public final class AdapterMerge {
    private AdapterMerge() {
    }

    /**
     * What {@link #merge} folded in: each module with the adapter it carried, in model order. Keep it to
     * {@link #unmerge}: once merged, the adapters are no longer attached to the model.
     */
    public record Merged(Map<LinearModule, LinearAdapter> adapters) {
        public Merged {
            adapters = Collections.unmodifiableMap(new LinkedHashMap<>(adapters));
        }
    }

    /**
     * Every linear layer that can carry an adapter: the adapter targets, then the head modules (BERT's pooler and
     * classifier; a Llama has none: its lm_head may be the embedding matrix itself, which a merge must not change).
     */
    static List<LinearModule> linearModules(AdaptableModel model) {
        List<LinearModule> all = new ArrayList<>(model.linearModules());
        all.addAll(model.peftLayout().headModules());
        return all;
    }

    /**
     * Adds every attached adapter's update into its module's weight and detaches the adapter. Whole or nothing:
     * the merged weights are computed on copies first, so a refusal leaves the model as it was.
     *
     * @throws UserInputException if an adapter has a per-example input gate (Dynamic LoRA) or otherwise is not
     *     a fixed linear map: no single weight reproduces it
     */
    public static Merged merge(AdaptableModel model) {
        Objects.requireNonNull(model, "model");
        Map<LinearModule, LinearAdapter> adapters = new LinkedHashMap<>();
        Map<LinearModule, float[]> merged = new LinkedHashMap<>();
        for (LinearModule m : linearModules(model)) {
            LinearAdapter a = m.adapter();
            if (a == null) {
                continue;
            }
            if (a instanceof LoraAdapter la && la.gated()) {
                throw new UserInputException(gatedMessage(m, "merge"));
            }
            float[] w = m.weight().data().clone();
            try {
                a.mergeInto(w);
            } catch (UnsupportedOperationException e) {
                throw new UserInputException("cannot merge the adapter of " + m.name() + ": " + e.getMessage(), e);
            }
            adapters.put(m, a);
            merged.put(m, w);
        }
        for (Map.Entry<LinearModule, float[]> e : merged.entrySet()) {
            float[] w = e.getValue();
            System.arraycopy(w, 0, e.getKey().weight().data(), 0, w.length);
            e.getKey().setAdapter(null);
        }
        return new Merged(adapters);
    }

    /** Why a gated adapter cannot be folded into a weight; {@code verb}: what was asked (merge, export). */
    static UserMessage gatedMessage(LinearModule m, String verb) {
        return UserMessage.of("cannot " + verb + " the adapter of " + m.name() + ": it has an input gate (Dynamic"
                + " LoRA), whose factor g(x) changes with every input, so no fixed weight reproduces it exactly; keep"
                + " the adapter unmerged, or train with ", Setting.GATE.is(false), " for an adapter that merges");
    }

    /**
     * Undoes {@link #merge}: subtracts each adapter's update from its weight (W -= s B diag(mask) A, which
     * restores W up to float rounding) and attaches the adapter again.
     *
     * @throws IllegalStateException if a module has an adapter attached again since the merge
     */
    public static void unmerge(AdaptableModel model, Merged merged) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(merged, "merged");
        List<LinearModule> modules = linearModules(model);
        for (Map.Entry<LinearModule, LinearAdapter> e : merged.adapters().entrySet()) {
            if (!modules.contains(e.getKey())) {
                throw new IllegalStateException("module " + e.getKey().name() + " does not belong to this model");
            }
            if (e.getKey().adapter() != null) {
                throw new IllegalStateException("module " + e.getKey().name() + " has an adapter attached since the merge");
            }
        }
        for (Map.Entry<LinearModule, LinearAdapter> e : merged.adapters().entrySet()) {
            float[] w = e.getKey().weight().data();
            if (e.getValue() instanceof LoraAdapter la) {
                la.unmergeFrom(w);
            } else {
                // Any other adapter that could be merged is a fixed linear map: its update is what mergeInto adds
                // to zeros.
                float[] delta = new float[w.length];
                e.getValue().mergeInto(delta);
                for (int i = 0; i < w.length; i++) {
                    w[i] -= delta[i];
                }
            }
            e.getKey().setAdapter(e.getValue());
        }
    }
}
