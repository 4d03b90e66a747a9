package dev.dynalora.models;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.UserInputException;
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
 * Writes a classifier as a Hugging Face {@code BertForSequenceClassification} folder that
 * {@code AutoModelForSequenceClassification.from_pretrained} (and {@link PretrainedBert#loadClassifier}) loads
 * as is: {@code config.json}, {@code model.safetensors} ({@code bert.}-prefixed encoder and pooler,
 * {@code classifier.*}) and the tokenizer files of the source model. Attached adapters are folded into the
 * written weights (the model itself is not changed); a gated adapter cannot be, and is refused.
 *
 * <p>Whole or nothing: everything is written into a temporary sibling folder that is renamed to the target
 * only when complete, so an interrupted export leaves no half-written model folder behind.
 */
public final class HuggingFaceExport {
    /** Tokenizer files transformers' AutoTokenizer reads for BERT, copied when the source folder has them. */
    public static final List<String> TOKENIZER_FILES = List.of(
            "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json", "added_tokens.json");

    private static final ObjectMapper JSON = new ObjectMapper();

    private HuggingFaceExport() {
    }

    /** {@link #write(Path, SequenceClassifier, ModelConfig, Path, String[], boolean)} refusing an existing outDir. */
    public static void write(Path outDir, SequenceClassifier model, ModelConfig config, Path sourceModelDir,
                             String[] labelNames) {
        write(outDir, model, config, sourceModelDir, labelNames, false);
    }

    /**
     * Writes the folder.
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
        Objects.requireNonNull(outDir, "outDir");
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(config, "config");
        Path target = outDir.toAbsolutePath().normalize();
        if (target.getParent() == null || target.getFileName() == null) {
            throw new UserInputException(outDir + ": not a folder path to export to");
        }
        if (Files.exists(target, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            if (!overwrite) {
                throw new UserInputException(outDir + ": already exists; choose a new folder, or pass --overwrite to replace"
                        + " the model folder there");
            }
            requireModelFolder(target, outDir);
        }
        String[] labels = labels(labelNames, model.numLabels());
        Map<String, Tensor> tensors = tensors(model);
        ObjectNode json = configJson(config, labels);

        Path parent = target.getParent();
        String name = target.getFileName().toString();
        Path tmp = parent.resolve("." + name + ".tmp-" + Long.toHexString(ThreadLocalRandom.current().nextLong()));
        boolean done = false;
        try {
            Files.createDirectories(parent);
            Files.createDirectory(tmp);
            SafetensorsWriter.write(tmp.resolve("model.safetensors"), tensors, Map.of("format", "pt"));
            AtomicFiles.writeBytes(tmp.resolve(ModelConfig.FILE_NAME),
                    JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(json));
            if (sourceModelDir != null) {
                for (String f : TOKENIZER_FILES) {
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
                throw new UserInputException(outDir + ": already exists; choose a new folder, or pass --overwrite");
            }
            old = target.resolveSibling("." + target.getFileName() + ".old-"
                    + Long.toHexString(ThreadLocalRandom.current().nextLong()));
            Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
        }
        try {
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (FileAlreadyExistsException e) {
            restore(old, target);
            throw new UserInputException(outDir + ": already exists; choose a new folder, or pass --overwrite", e);
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

    /** Every file name this export writes: what an existing folder may hold to be replaced by --overwrite. */
    public static Set<String> writtenFiles() {
        Set<String> names = new HashSet<>(TOKENIZER_FILES);
        names.add("model.safetensors");
        names.add(ModelConfig.FILE_NAME);
        return names;
    }

    /**
     * Overwriting replaces a whole folder, so it is allowed only for one holding nothing but the files an
     * export writes (an earlier export): never a run folder, a folder of runs, or anything with a user's files.
     */
    private static void requireModelFolder(Path target, Path outDir) {
        if (!Files.isDirectory(target, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            throw new UserInputException(outDir + ": exists and is not a folder; choose a new folder");
        }
        Set<String> ours = writtenFiles();
        List<String> foreign;
        try (Stream<Path> s = Files.list(target)) {
            foreign = s.filter(p -> !ours.contains(p.getFileName().toString())
                            || !Files.isRegularFile(p, java.nio.file.LinkOption.NOFOLLOW_LINKS))
                    .map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new UserInputException("cannot read " + outDir + ": " + describe(e), e);
        }
        if (!foreign.isEmpty()) {
            throw new UserInputException(outDir + " holds files that an exported model folder does not ("
                    + String.join(", ", foreign.subList(0, Math.min(3, foreign.size()))) + (foreign.size() > 3 ? ", ..." : "")
                    + "), so --overwrite will not replace it; choose a new folder");
        }
    }

    private static String[] labels(String[] names, int numLabels) {
        if (names == null) {
            String[] l = new String[numLabels];
            for (int i = 0; i < numLabels; i++) {
                l[i] = "LABEL_" + i;
            }
            return l;
        }
        if (names.length != numLabels) {
            throw new UserInputException("got " + names.length + " label names for a model with " + numLabels
                    + " label" + (numLabels == 1 ? "" : "s"));
        }
        Set<String> seen = new HashSet<>();
        for (String n : names) {
            if (n == null) {
                throw new UserInputException("label names must not be missing (null)");
            }
            if (!seen.add(n)) {
                throw new UserInputException("label name \"" + n + "\" appears twice; label2id needs distinct names");
            }
        }
        return names.clone();
    }

    /**
     * Every parameter under its transformers name: bert.* for embeddings, layers and pooler, classifier.* as is.
     * A weight with an adapter attached is written merged (on a copy).
     */
    static Map<String, Tensor> tensors(SequenceClassifier model) {
        Map<Param, Tensor> merged = new LinkedHashMap<>();
        for (LinearModule m : AdapterMerge.linearModules(model)) {
            LinearAdapter a = m.adapter();
            if (a == null) {
                continue;
            }
            if (a instanceof LoraAdapter la && la.gated()) {
                throw new UserInputException(AdapterMerge.gatedMessage(m).replace("cannot merge", "cannot export"));
            }
            Tensor w = m.weight().value().copy();
            try {
                a.mergeInto(w.data());
            } catch (UnsupportedOperationException e) {
                throw new UserInputException("cannot export the adapter of " + m.name() + ": " + e.getMessage(), e);
            }
            merged.put(m.weight(), w);
        }
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Param p : model.allParams()) {
            String key = p.name().startsWith("classifier.") ? p.name() : PeftAdapterIO.BERT + p.name();
            out.put(key, merged.getOrDefault(p, p.value()));
        }
        return out;
    }

    private static ObjectNode configJson(ModelConfig config, String[] labels) {
        ObjectNode n = config.toJson();
        n.putArray("architectures").add("BertForSequenceClassification");
        n.put("num_labels", labels.length);
        ObjectNode id2label = n.putObject("id2label");
        ObjectNode label2id = n.putObject("label2id");
        for (int i = 0; i < labels.length; i++) {
            id2label.put(Integer.toString(i), labels[i]);
            label2id.put(labels[i], i);
        }
        // transformers would infer both from the labels' dtype at training time; saying it makes inference
        // pipelines pick the right activation (none for regression, softmax otherwise).
        n.put("problem_type", labels.length == 1 ? "regression" : "single_label_classification");
        n.put("torch_dtype", "float32");
        return n;
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
