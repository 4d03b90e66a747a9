package dev.dynalora.formats.peft;

import dev.dynalora.UserInputException;
import dev.dynalora.adapters.LinearAdapter;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.formats.FormatErrors;
import dev.dynalora.formats.SafetensorsReader;
import dev.dynalora.models.AdaptableModel;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.PeftLayout;
import dev.dynalora.tensor.Param;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

import static dev.dynalora.formats.peft.ModuleTensors.shapeText;

/**
 * Reads an adapter folder into a model (see {@link PeftAdapters#load}): everything is checked against the model
 * first, and only a folder that is valid as a whole changes it.
 */
final class AdapterReader {
    private final Path wFile;
    private final AdapterConfig c;
    private final AdaptableModel model;
    private final PeftLayout layout;

    private AdapterReader(Path wFile, AdapterConfig c, AdaptableModel model) {
        this.wFile = wFile;
        this.c = c;
        this.model = model;
        this.layout = model.peftLayout();
    }

    /** See {@link PeftAdapters#load}. */
    static LoraConfig load(Path dir, AdaptableModel model) {
        Objects.requireNonNull(dir, "dir");
        Objects.requireNonNull(model, "model");
        if (!Files.exists(dir)) {
            throw new UserInputException(dir + ": adapter folder does not exist");
        }
        if (!Files.isDirectory(dir)) {
            throw new UserInputException(dir + ": expected an adapter folder with " + PeftFiles.CONFIG_FILE + " and "
                    + PeftFiles.WEIGHTS_FILE + ", got a file");
        }
        Path cfgFile = dir.resolve(PeftFiles.CONFIG_FILE);
        if (!Files.isRegularFile(cfgFile)) {
            throw new UserInputException(dir + ": no " + PeftFiles.CONFIG_FILE + " in this adapter folder");
        }
        Path wFile = dir.resolve(PeftFiles.WEIGHTS_FILE);
        if (!Files.isRegularFile(wFile)) {
            if (Files.exists(dir.resolve("adapter_model.bin"))) {
                throw new UserInputException(dir + ": has adapter_model.bin (a PyTorch pickle), which cannot be read;"
                        + " save the adapter with safe_serialization=True to get " + PeftFiles.WEIGHTS_FILE);
            }
            throw new UserInputException(dir + ": no " + PeftFiles.WEIGHTS_FILE + " in this adapter folder");
        }
        AdapterConfig c = AdapterConfig.read(cfgFile, model.peftLayout());
        return new AdapterReader(wFile, c, model).read();
    }

    private LoraConfig read() {
        List<String> moduleNames = new ArrayList<>();
        Map<String, LinearModule> linears = new LinkedHashMap<>();
        for (LinearModule m : model.linearModules()) {
            moduleNames.add(m.name());
            linears.put(m.name(), m);
        }
        for (LinearModule m : layout.outputLinears()) {
            moduleNames.add(m.name());
        }
        c.checkMatchCost(moduleNames);
        Map<String, Param> params = new LinkedHashMap<>();
        for (Param p : model.allParams()) {
            params.put(p.name(), p);
        }
        Set<Param> head = new HashSet<>(model.headParams());
        String example = model.linearModules().get(0).name();

        Map<String, ModuleTensors> found = new LinkedHashMap<>();
        Map<Param, String> plain = new LinkedHashMap<>();
        Map<LinearModule, LinearAdapter> built = new LinkedHashMap<>();
        Map<Param, float[]> values = new LinkedHashMap<>();
        Map<String, String> seen = new LinkedHashMap<>();
        try (SafetensorsReader r = SafetensorsReader.open(wFile)) {
            for (String key : r.names()) {
                String k = PeftKeys.ourName(layout, key);
                String before = seen.put(k, key);
                if (before != null) {
                    throw new UserInputException(wFile + ": tensors " + FormatErrors.quote(before) + " and "
                            + FormatErrors.quote(key) + " are the same parameter");
                }
                PeftKeys.LoraKey split = PeftKeys.split(k);
                if (split == null) {
                    if (k.contains("lora_")) {
                        throw new UserInputException(wFile + ": tensor " + FormatErrors.quote(key) + " is not a LoRA weight this"
                                + " program supports (lora_A, lora_B, lora_E, lora_gate on linear layers)");
                    }
                    Param p = params.get(k);
                    if (p == null) {
                        throw new UserInputException(wFile + ": tensor " + FormatErrors.quote(key) + " names a parameter the model lacks"
                                + " (parameter names look like " + PeftKeys.fileKey(layout, params.keySet().iterator().next())
                                + ")" + otherBase());
                    }
                    plain.put(p, key);
                    continue;
                }
                LinearModule m = linears.get(split.module());
                if (m == null) {
                    throw new UserInputException(wFile + ": tensor " + FormatErrors.quote(key) + " names module "
                            + FormatErrors.quote(split.module()) + ", which the model does not have as an adaptable linear"
                            + " layer (those look like " + example + ")" + otherBase());
                }
                found.computeIfAbsent(split.module(), n -> new ModuleTensors(m)).put(split.role(), key);
            }
            if (found.isEmpty()) {
                throw new UserInputException(wFile + ": holds no LoRA weights (no key ends in lora_A.weight)");
            }
            for (ModuleTensors f : found.values()) {
                LinearAdapter a = build(f, r);
                if (a != null) {
                    built.put(f.module, a);
                }
            }
            for (Map.Entry<Param, String> e : plain.entrySet()) {
                int[] want = e.getKey().value().shape();
                int[] got = r.shape(e.getValue());
                if (!Arrays.equals(want, got)) {
                    throw new UserInputException(wFile + ": tensor " + FormatErrors.quote(e.getValue()) + " has shape "
                            + shapeText(got) + " but the model's " + e.getKey().name() + " is " + Arrays.toString(want)
                            + (head.contains(e.getKey()) ? " (a head for a different number of labels?)" : otherBase()));
                }
                values.put(e.getKey(), r.readFloat(e.getValue()));
            }
        }
        // All checked: now change the model.
        for (LinearModule m : linears.values()) {
            m.setAdapter(built.get(m));
        }
        for (Map.Entry<Param, float[]> e : values.entrySet()) {
            System.arraycopy(e.getValue(), 0, e.getKey().data(), 0, e.getValue().length);
        }
        Map<String, Integer> fileRanks = new LinkedHashMap<>();
        found.forEach((name, f) -> fileRanks.put(name, f.rank));
        return c.toLoraConfig(fileRanks, TargetModules.allLinear(model));
    }

    /**
     * Where a module or shape does not fit, the adapter was most likely made for another base model: say which
     * one the file names, so that the user can tell.
     */
    private String otherBase() {
        return c.baseModel == null ? "" : "; is this an adapter for another base model? " + PeftFiles.CONFIG_FILE
                + " names " + FormatErrors.quote(c.baseModel);
    }

    /** The adapter for one module, all shapes checked; null for an AdaLoRA module pruned to rank 0. */
    private LinearAdapter build(ModuleTensors f, SafetensorsReader r) {
        LinearModule m = f.module;
        String where = wFile + ": module " + m.name() + ": ";
        if (f.aKey == null || f.bKey == null) {
            throw new UserInputException(where + "has " + (f.aKey == null ? "lora_B but no lora_A" : "lora_A but no lora_B"));
        }
        if (c.adaLora != (f.eKey != null)) {
            throw new UserInputException(where + (c.adaLora ? "has no lora_E, which an AdaLoRA adapter needs"
                    : "has lora_E (AdaLoRA) but " + PeftFiles.CONFIG_FILE + " says peft_type LORA"));
        }
        if ((f.gateWeightKey == null) != (f.gateBiasKey == null)) {
            throw new UserInputException(where + "has only one of lora_gate.weight and lora_gate.bias");
        }
        if (f.gateCentreKey != null && f.gateWeightKey == null) {
            throw new UserInputException(where + "has lora_gate.centre but no lora_gate.weight and .bias");
        }
        int[] as = r.shape(f.aKey);
        int[] bs = r.shape(f.bKey);
        if (as.length != 2 || as[1] != m.in()) {
            throw new UserInputException(where + "lora_A has shape " + shapeText(as) + " but the layer takes "
                    + m.in() + " inputs (expected [r, " + m.in() + "])" + otherBase());
        }
        int rank = as[0];
        if (bs.length != 2 || bs[0] != m.out() || bs[1] != rank) {
            throw new UserInputException(where + "lora_B has shape " + shapeText(bs) + ", expected ["
                    + m.out() + ", " + rank + "] for lora_A of rank " + rank);
        }
        f.rank = rank;
        if (c.adaLora) {
            if (f.gateWeightKey != null) {
                throw new UserInputException(where + "has lora_gate tensors, which only LoRA adapters can have");
            }
            return AdaLoraReader.build(f, r, c, where);
        }
        return lora(f, r, where);
    }

    /** A LoRA adapter with PEFT's scaling for its module, and its Dynamic LoRA gate when the file has one. */
    private LoraAdapter lora(ModuleTensors f, SafetensorsReader r, String where) {
        LinearModule m = f.module;
        int rank = f.rank;
        float[] a = r.readFloat(f.aKey);
        float[] b = r.readFloat(f.bKey);
        int want = c.rankFor(m.name());
        if (rank != want) {
            throw new UserInputException(where + "lora_A has rank " + rank + " but " + PeftFiles.CONFIG_FILE
                    + " implies r = " + want + " for this module (r / rank_pattern)");
        }
        if (rank == 0) {
            throw new UserInputException(where + "lora_A has rank 0");
        }
        float scaling = LoraScaling.scalingOf(c.alphaFor(m.name()), rank, c.rsLora);
        boolean gated = f.gateWeightKey != null;
        LoraAdapter ad = new LoraAdapter(m.name(), m.in(), m.out(), scaling, a, b, gated);
        String gateKind = r.metadata().getOrDefault(PeftFiles.GATE_METADATA, PeftFiles.GATE_PER_EXAMPLE);
        if (gated && !gateKind.equals(PeftFiles.GATE_PER_EXAMPLE) && !gateKind.equals(PeftFiles.GATE_PER_TOKEN)) {
            throw new UserInputException(wFile + ": metadata " + PeftFiles.GATE_METADATA + " is " + FormatErrors.quote(gateKind)
                    + ", expected " + PeftFiles.GATE_PER_EXAMPLE + " or " + PeftFiles.GATE_PER_TOKEN);
        }
        ad.setGatePerToken(gated && gateKind.equals(PeftFiles.GATE_PER_TOKEN));
        if (gated) {
            int[] gw = r.shape(f.gateWeightKey);
            int[] gb = r.shape(f.gateBiasKey);
            if (!Arrays.equals(gw, new int[] {m.in()}) || !Arrays.equals(gb, new int[] {1})) {
                throw new UserInputException(where + "lora_gate.weight / .bias have shapes " + shapeText(gw)
                        + " / " + shapeText(gb) + ", expected [" + m.in() + "] / [1]");
            }
            System.arraycopy(r.readFloat(f.gateWeightKey), 0, ad.gateWeight().data(), 0, m.in());
            ad.gateBias().data()[0] = r.readFloat(f.gateBiasKey)[0];
            if (f.gateCentreKey != null) {
                int[] gc = r.shape(f.gateCentreKey);
                if (!Arrays.equals(gc, new int[] {m.in()})) {
                    throw new UserInputException(where + "lora_gate.centre has shape " + shapeText(gc) + ", expected ["
                            + m.in() + "]");
                }
                ad.setGateCentre(r.readFloat(f.gateCentreKey));
            }
        }
        return ad;
    }
}
