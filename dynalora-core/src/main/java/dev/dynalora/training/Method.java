package dev.dynalora.training;

import dev.dynalora.UserInputException;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** What gets trained: the head only, everything, or adapters (plus the head). */
public enum Method {
    HEAD, FULL, LORA, ADALORA, DYNAMIC;

    /** The method's id, as a run configuration names it: head, full, lora, adalora, dynamic. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static Method parse(String s) {
        for (Method m : values()) {
            if (m.id().equalsIgnoreCase(s.trim())) {
                return m;
            }
        }
        throw new UserInputException("unknown method '" + s + "'; choose one of "
                + Arrays.stream(values()).map(Method::id).collect(Collectors.joining(", ")));
    }

    /**
     * Peak learning rate when none is given (on an encoder): 5e-4 for LoRA, Dynamic LoRA and the head, 5e-5 for
     * full fine-tuning, whose updates move every pretrained weight, and 2e-3 for AdaLoRA. AdaLoRA starts from zero
     * singular values and small (std 0.02) singular vectors, as PEFT does, so its update grows as the product of
     * three small factors and at LoRA's rates it barely moves: on the one-epoch GLUE grid (MiniLM, 3 seeds) it
     * averaged 45.0 at 5e-4 and 51.4 at 2e-3, the best of the rates tried (BENCHMARKS.md).
     */
    public double defaultLearningRate() {
        return switch (this) {
            case FULL -> 5e-5;
            case ADALORA -> 2e-3;
            default -> 5e-4;
        };
    }

    public boolean usesAdapters() {
        return this == LORA || this == ADALORA || this == DYNAMIC;
    }
}
