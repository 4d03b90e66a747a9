package dev.dynalora.fuzz;

import org.junit.jupiter.api.Tag;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.models.LinearModule;
import dev.dynalora.formats.peft.PeftAdapters;
import dev.dynalora.formats.peft.PeftFiles;
import dev.dynalora.models.bert.SequenceClassifier;
import dev.dynalora.models.TinyBert;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static dev.dynalora.fuzz.FuzzSupport.allowUserError;

/**
 * Hostile PEFT adapter folders through {@link PeftAdapters#load} into a tiny random BERT classifier (2 layers,
 * hidden 8, 2 heads, 3 labels; see {@link TinyBert}). {@link #config} fuzzes adapter_config.json beside a
 * valid adapter_model.safetensors (LoRA r = 2 on query and value, plus the head); {@link #folder} fuzzes both
 * files: the config up to the first 0 byte of the input, the safetensors file after it. A fresh model per
 * input, so inputs replay alike.
 */
@Tag("slow")
class PeftAdapterFuzzTest {
    static final int LABELS = 3;
    private static ModelConfig config;
    private static byte[] validWeights;

    static synchronized ModelConfig modelConfig() {
        if (config == null) {
            try {
                config = TinyBert.config(FuzzSupport.scratch().resolve("tiny-bert"), 2, 8, 2, 12, 0.0);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return config;
    }

    static SequenceClassifier model() {
        return TinyBert.classifier(modelConfig(), LABELS, 7);
    }

    /** A model with LoRA on query and value (r = 2, alpha = 4; a third module at r = 3 so rank_pattern is used). */
    static SequenceClassifier adaptedModel() {
        SequenceClassifier m = model();
        long seed = 11;
        for (LinearModule lm : m.encoder().linearModules()) {
            if (lm.shortName().equals("query") || lm.shortName().equals("value")) {
                int rank = lm.name().equals("encoder.layer.1.attention.self.value") ? 3 : 2;
                LoraAdapter a = new LoraAdapter(lm.name(), lm.in(), lm.out(), rank, 4f, false, false, false, seed++);
                Arrays.fill(a.loraB().data(), 0.25f);
                lm.setAdapter(a);
            }
        }
        return m;
    }

    static synchronized byte[] validWeights() {
        if (validWeights == null) {
            Path dir = FuzzSupport.scratch().resolve("valid-adapter");
            PeftAdapters.save(dir, adaptedModel(), LoraConfig.of(2, 4f, "query,value", false, 0.1f, 1), "tiny", null);
            try {
                validWeights = Files.readAllBytes(dir.resolve(PeftFiles.WEIGHTS_FILE));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return validWeights;
    }

    @FuzzTest(maxDuration = "20s")
    void config(byte[] data) {
        load(data, validWeights());
    }

    @FuzzTest(maxDuration = "20s")
    void folder(byte[] data) {
        int cut = FuzzSupport.firstZero(data);
        byte[] cfg = cut < 0 ? data : Arrays.copyOfRange(data, 0, cut);
        byte[] weights = cut < 0 ? new byte[0] : Arrays.copyOfRange(data, cut + 1, data.length);
        load(cfg, weights);
    }

    private static void load(byte[] cfg, byte[] weights) {
        SequenceClassifier model = model();
        Path dir = FuzzSupport.scratch().resolve("adapter");
        FuzzSupport.write("adapter/" + PeftFiles.CONFIG_FILE, cfg);
        FuzzSupport.write("adapter/" + PeftFiles.WEIGHTS_FILE, weights);
        allowUserError(() -> {
            LoraConfig read = PeftAdapters.load(dir, model);
            if (read == null) {
                throw new AssertionError("load returned no config");
            }
            List<LinearModule> adapted = model.encoder().linearModules().stream()
                    .filter(m -> m.adapter() != null).toList();
            for (LinearModule m : adapted) {
                read.targets(m.name());
                read.rankFor(m.name());
                read.alphaFor(m.name());
            }
        });
    }
}
