package dev.dynalora.training;

import dev.dynalora.ConfigException;
import dev.dynalora.Setting;
import dev.dynalora.adapters.AdaLoraAdapter;
import dev.dynalora.adapters.AdapterDropout;
import dev.dynalora.adapters.LinearAdapter;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.AdaptableModel;
import dev.dynalora.tensor.Param;

import java.util.ArrayList;
import java.util.List;

/**
 * Makes a classifier ready for a method: marks what trains and attaches adapters. Base weights stay frozen
 * (no gradient buffers) for the head-only and adapter methods; the head (pooler and classifier) always
 * trains in full, as PEFT's modules_to_save does for sequence classification.
 */
public final class MethodSetup {
    private MethodSetup() {
    }

    /** Applies the method and returns the trainable parameters in a stable order. */
    public static List<Param> apply(AdaptableModel model, Method method, LoraConfig lora) {
        return apply(model, method, lora, lora == null ? null : AdaptiveOptions.defaults(lora.rank()));
    }

    /**
     * As {@link #apply(AdaptableModel, Method, LoraConfig)}; for Dynamic LoRA each module gets r_max
     * components (a mask selects the active ones) and the gate if switched on; for AdaLoRA init_r triplets.
     * With lora.dropout() &gt; 0 every adapter drops its input while training, each with its own mask (site =
     * its position among the adapted modules) and one scratch buffer for all.
     */
    public static List<Param> apply(AdaptableModel model, Method method, LoraConfig lora, AdaptiveOptions adaptive) {
        for (Param p : model.allParams()) {
            p.setTrainable(method == Method.FULL);
        }
        for (Param p : model.headParams()) {
            p.setTrainable(true);
        }
        List<Param> trainable = new ArrayList<>();
        if (method == Method.FULL) {
            trainable.addAll(model.allParams());
            return trainable;
        }
        if (method.usesAdapters()) {
            boolean dynamic = method == Method.DYNAMIC;
            int seedOffset = 0;
            AdapterDropout.Scratch scratch = new AdapterDropout.Scratch();
            for (LinearModule m : model.linearModules()) {
                if (!lora.targets(m.name())) {
                    continue;
                }
                AdapterDropout drop = lora.dropout() > 0f ? new AdapterDropout(lora.dropout(), seedOffset, scratch)
                        : AdapterDropout.NONE;
                long seed = lora.seed() * 1_000_003L + seedOffset++;
                LinearAdapter a;
                if (method == Method.ADALORA) {
                    a = new AdaLoraAdapter(m.name(), m.in(), m.out(), adaptive.initR(), lora.alphaFor(m.name()), seed, drop);
                } else if (dynamic) {
                    // Dynamic LoRA: alpha / r keeps the scaling of LoRA at the run's rank, whatever r_max is.
                    int r = lora.rankFor(m.name());
                    float alpha = lora.rsLora()
                            ? (float) (lora.alphaFor(m.name()) * Math.sqrt((double) adaptive.rMax() / r))
                            : lora.alphaFor(m.name()) * adaptive.rMax() / r;
                    LoraAdapter la = new LoraAdapter(m.name(), m.in(), m.out(), adaptive.rMax(), alpha, lora.rsLora(),
                            true, adaptive.gate(), seed, drop);
                    // A causal model's gate must not see later tokens: per token, from that token's features.
                    la.setGatePerToken(adaptive.gate() && (adaptive.gatePerToken() || model.causal()));
                    a = la;
                } else {
                    a = new LoraAdapter(m.name(), m.in(), m.out(), lora.rankFor(m.name()), lora.alphaFor(m.name()),
                            lora.rsLora(), false, false, seed, drop);
                }
                m.setAdapter(a);
                trainable.addAll(a.params());
            }
            if (seedOffset == 0) {
                throw new ConfigException(Setting.TARGETS, "matched no module of the model (module names look like "
                        + model.linearModules().get(0).name() + ")");
            }
        }
        trainable.addAll(model.headParams());
        return trainable;
    }

    /** The gate parameters (w and b of every gated adapter) of a model set up for Dynamic LoRA. */
    public static java.util.Set<Param> gateParams(AdaptableModel model) {
        return gates(model, true);
    }

    /** The gate weights w (not the biases) of a model set up for Dynamic LoRA. */
    public static java.util.Set<Param> gateWeights(AdaptableModel model) {
        return gates(model, false);
    }

    private static java.util.Set<Param> gates(AdaptableModel model, boolean withBiases) {
        java.util.Set<Param> gates = new java.util.HashSet<>();
        for (LinearModule m : model.linearModules()) {
            if (m.adapter() instanceof LoraAdapter la && la.gated()) {
                gates.add(la.gateWeight());
                if (withBiases) {
                    gates.add(la.gateBias());
                }
            }
        }
        return gates;
    }

    /**
     * The optimizer of a run: AdamW with the run's weight decay; Dynamic LoRA's gate weights w at gate_lr_ratio
     * times the learning rate (a parameter group of their own). Why w and not the bias: Adam moves each of w's
     * d_in coordinates by about lr per step, and the gate's logit w . rmsnorm(mean x) adds d_in such moves over
     * features of unit RMS, so it can move hundreds of times faster than the bias's lr (docs/dynamic-lora.md).
     */
    public static AdamW optimizer(AdaptableModel model, List<Param> trainable, Method method, float weightDecay,
                                  AdaptiveOptions adaptive) {
        AdamW opt = new AdamW(trainable, weightDecay);
        if (method == Method.DYNAMIC && adaptive != null) {
            java.util.Set<Param> w = gateWeights(model);
            opt.scaleLearningRate(w::contains, adaptive.gateLrRatio());
        }
        return opt;
    }

    public static long count(List<Param> params) {
        return params.stream().mapToLong(p -> p.value().size()).sum();
    }
}
