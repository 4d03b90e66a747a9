package dev.dynalora.models;

import dev.dynalora.models.bert.BertExportConfig;
import dev.dynalora.models.bert.PretrainedBert;
import dev.dynalora.models.bert.SequenceClassifier;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.Setting;
import dev.dynalora.UserInputException;
import dev.dynalora.UserMessage;
import dev.dynalora.adapters.LinearAdapter;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.formats.AtomicFiles;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.formats.SafetensorsWriter;
import dev.dynalora.tensor.Param;
import dev.dynalora.tensor.Tensor;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

/**
 * Writes a model as a Hugging Face folder that transformers' {@code from_pretrained} loads as is (and our own
 * loaders: {@link PretrainedBert#loadClassifier}, {@code PretrainedLlama.load}): {@code config.json},
 * {@code model.safetensors} with every parameter under its Hugging Face name, and the tokenizer files of the
 * source model. The family decides the config and the files ({@link AdaptableModel#hfFolder()}) and the names
 * ({@link PeftLayout#hfName}); a BERT classifier becomes a {@code BertForSequenceClassification}, a Llama a
 * {@code LlamaForCausalLM} (lm_head.weight only when not tied). Attached adapters are folded into the written
 * weights (the model itself is not changed); a gated adapter cannot be, and is refused.
 *
 * <p>Whole or nothing: everything is written into a temporary sibling folder that is renamed to the target
 * only when complete, so an interrupted export leaves no half-written model folder behind.
 */
public final class HuggingFaceExport {
    private static final ObjectMapper JSON = new ObjectMapper();

    private HuggingFaceExport() {
    }

    /** {@link #write(Path, SequenceClassifier, ModelConfig, Path, String[], boolean)} refusing an existing outDir. */
    public static void write(Path outDir, SequenceClassifier model, ModelConfig config, Path sourceModelDir,
                             String[] labelNames) {
        write(outDir, model, config, sourceModelDir, labelNames, false);
    }

    /**
     * Writes a BertForSequenceClassification folder with the given label names.
     *
     * @param config         the encoder's config (written back with the classification fields added)
     * @param sourceModelDir the folder the base model came from, for its tokenizer files (null: none copied)
     * @param labelNames     one name per label, index order (null: LABEL_0, LABEL_1, ... as transformers names them)
     * @param overwrite      replace an existing outDir (its old contents go only once the new folder is in place)
     * @throws UserInputException if outDir exists and overwrite is false, labelNames do not fit the model, an
     *     adapter cannot be folded in, or writing fails
     */
    public static void write(Path outDir, SequenceClassifier model, ModelConfig config, Path sourceModelDir,
                             String[] labelNames, boolean overwrite) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(config, "config");
        write(outDir, model, BertExportConfig.folder(config, labelNames, model.numLabels()), sourceModelDir, overwrite);
    }

    /**
     * Writes any family's folder as {@link AdaptableModel#hfFolder()} describes it (for a Llama: the base's
     * config.json with torch_dtype float32, model.safetensors, the tokenizer and generation config files).
     *
     * @param sourceModelDir the folder the base model came from, for its tokenizer files (null: none copied)
     * @param overwrite      replace an existing outDir that holds nothing but an earlier export's files
     * @throws UserInputException if outDir exists and overwrite is false (or it holds other files), an adapter
     *     cannot be folded in, or writing fails
     */
    public static void write(Path outDir, AdaptableModel model, Path sourceModelDir, boolean overwrite) {
        Objects.requireNonNull(model, "model");
        write(outDir, model, model.hfFolder(), sourceModelDir, overwrite);
    }

    private static void write(Path outDir, AdaptableModel model, HfFolderSpec spec, Path sourceModelDir,
                              boolean overwrite) {
        Objects.requireNonNull(outDir, "outDir");
        Path target = outDir.toAbsolutePath().normalize();
        if (target.getParent() == null || target.getFileName() == null) {
            throw new UserInputException(outDir + ": not a folder path to export to");
        }
        if (Files.exists(target, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            if (!overwrite) {
                throw new UserInputException(UserMessage.of(outDir + ": already exists; choose a new folder, or pass ",
                        Setting.OVERWRITE, " to replace the model folder there"));
            }
            requireModelFolder(target, outDir, writtenFiles(spec));
        }
        Map<String, Tensor> tensors = tensors(model);

        Path parent = target.getParent();
        String name = target.getFileName().toString();
        Path tmp = parent.resolve("." + name + ".tmp-" + Long.toHexString(ThreadLocalRandom.current().nextLong()));
        boolean done = false;
        try {
            Files.createDirectories(parent);
            Files.createDirectory(tmp);
            SafetensorsWriter.write(tmp.resolve("model.safetensors"), tensors, Map.of("format", "pt"));
            AtomicFiles.writeBytes(tmp.resolve(ModelConfig.FILE_NAME),
                    JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(spec.config()));
            if (sourceModelDir != null) {
                for (String f : spec.copiedFiles()) {
                    Path src = sourceModelDir.resolve(f);
                    if (Files.isRegularFile(src)) {
                        Files.copy(src, tmp.resolve(f));
                    }
                }
            }
            install(tmp, target, overwrite, outDir);
            done = true;
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise config.json", e); // a JSON tree cannot fail
        } catch (IOException e) {
            throw new UserInputException("cannot export the model to " + outDir + ": " + describe(e), e);
        } finally {
            if (!done) {
                deleteQuietly(tmp);
            }
        }
    }

    /** Renames the finished temp folder to target, moving an existing target aside first when allowed. */
    private static void install(Path tmp, Path target, boolean overwrite, Path outDir) throws IOException {
        Path old = null;
        if (Files.exists(target, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            if (!overwrite) {
                // Appeared while we were writing.
                throw alreadyExists(outDir, null);
            }
            old = target.resolveSibling("." + target.getFileName() + ".old-"
                    + Long.toHexString(ThreadLocalRandom.current().nextLong()));
            Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
        }
        try {
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (FileAlreadyExistsException e) {
            restore(old, target);
            throw alreadyExists(outDir, e);
        } catch (IOException | RuntimeException e) {
            restore(old, target);
            throw e;
        }
        if (old != null) {
            deleteQuietly(old);
        }
    }

    private static void restore(Path old, Path target) {
        if (old != null) {
            try {
                Files.move(old, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException ignored) {
                // The original failure is the one to report; the old folder is still there under its hidden name.
            }
        }
    }

    private static UserInputException alreadyExists(Path outDir, Exception cause) {
        return new UserInputException(UserMessage.of(outDir + ": already exists; choose a new folder, or pass ",
                Setting.OVERWRITE), cause);
    }

    /** Every file name an export of this kind writes: what an existing folder may hold to be replaced when overwriting. */
    private static Set<String> writtenFiles(HfFolderSpec spec) {
        Set<String> names = new HashSet<>(spec.copiedFiles());
        names.add("model.safetensors");
        names.add(ModelConfig.FILE_NAME);
        return names;
    }

    /**
     * Overwriting replaces a whole folder, so it is allowed only for one holding nothing but the files an
     * export writes (an earlier export): never a run folder, a folder of runs, or anything with a user's files.
     */
    private static void requireModelFolder(Path target, Path outDir, Set<String> ours) {
        if (!Files.isDirectory(target, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            throw new UserInputException(outDir + ": exists and is not a folder; choose a new folder");
        }
        List<String> foreign;
        try (Stream<Path> s = Files.list(target)) {
            foreign = s.filter(p -> !ours.contains(p.getFileName().toString())
                            || !Files.isRegularFile(p, java.nio.file.LinkOption.NOFOLLOW_LINKS))
                    .map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new UserInputException("cannot read " + outDir + ": " + describe(e), e);
        }
        if (!foreign.isEmpty()) {
            throw new UserInputException(UserMessage.of(outDir + " holds files that an exported model folder does not ("
                    + String.join(", ", foreign.subList(0, Math.min(3, foreign.size()))) + (foreign.size() > 3 ? ", ..." : "")
                    + "), so ", Setting.OVERWRITE, " will not replace it; choose a new folder"));
        }
    }

    /**
     * Every parameter under its Hugging Face name. A weight with an adapter attached is written merged (on a
     * copy), exactly as {@link AdapterMerge#merge} would merge it.
     */
    static Map<String, Tensor> tensors(AdaptableModel model) {
        Map<Param, Tensor> merged = new LinkedHashMap<>();
        for (LinearModule m : AdapterMerge.linearModules(model)) {
            LinearAdapter a = m.adapter();
            if (a == null) {
                continue;
            }
            if (a instanceof LoraAdapter la && la.gated()) {
                throw new UserInputException(AdapterMerge.gatedMessage(m, "export"));
            }
            Tensor w = m.weight().value().copy();
            try {
                a.mergeInto(w.data());
            } catch (UnsupportedOperationException e) {
                throw new UserInputException("cannot export the adapter of " + m.name() + ": " + e.getMessage(), e);
            }
            merged.put(m.weight(), w);
        }
        PeftLayout layout = model.peftLayout();
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Param p : model.allParams()) {
            out.put(layout.hfName(p.name()), merged.getOrDefault(p, p.value()));
        }
        return out;
    }

    private static void deleteQuietly(Path dir) {
        if (!Files.exists(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // Best effort: a leftover hidden folder is harmless.
                }
            });
        } catch (IOException ignored) {
            // Same.
        }
    }

    private static String describe(IOException e) {
        String m = e.getMessage();
        String s = e.getClass().getSimpleName() + (m == null ? "" : ": " + m);
        return s.replace('\n', ' ');
    }
}
