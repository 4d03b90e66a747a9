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
     * Peak learning rate when none is given (on an encoder): 5e-4 for adapters and the head, 5e-5 for
     * full fine-tuning, whose updates move every pretrained weight.
     */
    public double defaultLearningRate() {
        return this == FULL ? 5e-5 : 5e-4;
    }

    public boolean usesAdapters() {
        return this == LORA || this == ADALORA || this == DYNAMIC;
    }
}
