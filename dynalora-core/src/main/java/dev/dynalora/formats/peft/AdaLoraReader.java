package dev.dynalora.formats.peft;

import dev.dynalora.UserInputException;
import dev.dynalora.adapters.AdaLoraAdapter;
import dev.dynalora.formats.SafetensorsReader;
import dev.dynalora.models.LinearModule;

import static dev.dynalora.formats.peft.ModuleTensors.shapeText;

/**
 * An AdaLoRA module as PEFT loads it: an SVDLinear of init_r triplets whose ranknum stays init_r
 * (resize_modules_by_rank_pattern copies it back), so y += (x (A * E)^T B^T) * lora_alpha / (init_r + 1e-5).
 */
final class AdaLoraReader {
    private AdaLoraReader() {
    }

    /**
     * The file's r' triplets go back to the positions among init_r that rank_pattern marks true (in order; without
     * an entry, the first r'); the other positions get A, E and B zero and add nothing. Keeping init_r, rather than
     * building a rank-r' adapter, leaves every matrix product the shape it had in training, so a saved and reloaded
     * model computes bit for bit what the trained one did. Null when the module keeps no triplet.
     *
     * @param f     the module's keys, lora_A and lora_B shapes already checked (f.rank set)
     * @param where the start of every error message: the file and the module
     */
    static AdaLoraAdapter build(ModuleTensors f, SafetensorsReader r, AdapterConfig c, String where) {
        LinearModule m = f.module;
        int rank = f.rank;
        int[] es = r.shape(f.eKey);
        boolean eOk = (es.length == 2 && es[0] == rank && es[1] == 1) || (es.length == 1 && es[0] == rank);
        if (!eOk) {
            throw new UserInputException(where + "lora_E has shape " + shapeText(es) + ", expected [" + rank + ", 1]");
        }
        int initR = c.initR;
        int[] slot = slots(c.adaLoraPattern(m.name()), rank, initR, where);
        if (rank == 0) {
            return null; // AdaLoRA pruned every component: the module adds nothing
        }
        int in = m.in();
        int out = m.out();
        float[] a = r.readFloat(f.aKey);
        float[] e = r.readFloat(f.eKey);
        float[] b = r.readFloat(f.bKey);
        float[] a2 = new float[initR * in];
        float[] e2 = new float[initR];
        float[] b2 = new float[out * initR];
        for (int t = 0; t < rank; t++) {
            int j = slot[t];
            System.arraycopy(a, t * in, a2, j * in, in);
            e2[j] = e[t];
            for (int o = 0; o < out; o++) {
                b2[o * initR + j] = b[o * rank + t];
            }
        }
        return new AdaLoraAdapter(m.name(), in, out, (float) c.alpha, a2, e2, b2);
    }

    /** The position among init_r of each of the file's rank triplets. */
    private static int[] slots(boolean[] pattern, int rank, int initR, String where) {
        int[] slot = new int[rank];
        if (pattern != null && rank != initR) {
            int kept = 0;
            for (int j = 0; j < initR; j++) {
                if (pattern[j]) {
                    if (kept < rank) {
                        slot[kept] = j;
                    }
                    kept++;
                }
            }
            if (kept != rank) {
                throw new UserInputException(where + "lora_A has rank " + rank + " but the rank_pattern of "
                        + PeftFiles.CONFIG_FILE + " keeps " + kept + " of " + initR + " components");
            }
            return slot;
        }
        // The whole init_r (PEFT leaves a module whose pattern keeps everything unresized), or no pattern entry.
        if (rank > initR) {
            throw new UserInputException(where + "lora_A has rank " + rank + ", more than init_r = " + initR
                    + " in " + PeftFiles.CONFIG_FILE);
        }
        for (int t = 0; t < rank; t++) {
            slot[t] = t;
        }
        return slot;
    }
}
