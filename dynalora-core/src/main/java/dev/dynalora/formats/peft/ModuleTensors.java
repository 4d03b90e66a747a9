package dev.dynalora.formats.peft;

import dev.dynalora.models.LinearModule;

import java.util.Arrays;

/** The keys an adapter file holds for one module, gathered before any tensor is read. */
final class ModuleTensors {
    final LinearModule module;
    String aKey;
    String bKey;
    String eKey;
    String gateWeightKey;
    String gateBiasKey;
    String gateCentreKey;
    /** lora_A's rank in the file, once its shapes are checked. */
    int rank;

    ModuleTensors(LinearModule module) {
        this.module = module;
    }

    void put(PeftKeys.Role role, String key) {
        switch (role) {
            case A -> aKey = key;
            case B -> bKey = key;
            case E -> eKey = key;
            case GATE_WEIGHT -> gateWeightKey = key;
            case GATE_BIAS -> gateBiasKey = key;
            case GATE_CENTRE -> gateCentreKey = key;
        }
    }

    /** A shape from the file for an error message, cut after 8 dimensions: a corrupt header may hold thousands. */
    static String shapeText(int[] shape) {
        if (shape.length <= 8) {
            return Arrays.toString(shape);
        }
        String head = Arrays.toString(Arrays.copyOf(shape, 8));
        return head.substring(0, head.length() - 1) + ", ... (" + shape.length + " dimensions)]";
    }
}
