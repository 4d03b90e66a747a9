package dev.dynalora.training;

import dev.dynalora.adapters.AdaLoraAdapter;
import dev.dynalora.adapters.LinearAdapter;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.AdaptableModel;
import dev.dynalora.tensor.Param;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Trainable parameters that are in use: a masked (pruned or not yet grown) rank component of Dynamic LoRA or
 * AdaLoRA is allocated but does not count. Comparisons between methods are made on this number.
 */
public final class ActiveParams {
    private ActiveParams() {
    }

    public static long count(AdaptableModel model, List<Param> trainable) {
        long total = 0;
        Set<Param> adapterParams = new HashSet<>();
        for (LinearModule m : model.linearModules()) {
            LinearAdapter a = m.adapter();
            if (a == null) {
                continue;
            }
            adapterParams.addAll(a.params());
            if (a instanceof LoraAdapter l) {
                float[] mask = l.componentMask();
                int active = l.rank();
                if (mask != null) {
                    active = 0;
                    for (float v : mask) {
                        active += v != 0f ? 1 : 0;
                    }
                }
                total += (long) active * (m.in() + m.out());
                if (l.gated()) {
                    total += m.in() + 1;
                }
            } else if (a instanceof AdaLoraAdapter ada) {
                int active = 0;
                for (float e : ada.loraE().data()) {
                    active += e != 0f ? 1 : 0;
                }
                total += (long) active * (m.in() + m.out() + 1);
            } else {
                total += a.params().stream().mapToLong(p -> p.value().size()).sum();
            }
        }
        for (Param p : trainable) {
            if (!adapterParams.contains(p)) {
                total += p.value().size();
            }
        }
        return total;
    }
}
