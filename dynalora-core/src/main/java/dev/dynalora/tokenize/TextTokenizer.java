package dev.dynalora.tokenize;

import ai.djl.engine.EngineException;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.UserInputException;
import dev.dynalora.formats.FormatErrors;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * A model's tokenizer, loaded from the {@code tokenizer.json} ("fast" tokenizer) in its folder and run by the
 * Hugging Face tokenizers library (Rust, through DJL's JNI binding), so ids match Python's exactly.
 *
 * <p>Configured for training data: special tokens added as the tokenizer's post-processor says ([CLS] ...
 * [SEP] for BERT, &lt;s&gt; for Llama), truncation to {@code maxLength} with Hugging Face's "longest_first"
 * strategy for pairs, and no padding (whatever tokenizer.json says): batchers pad to the batch's longest
 * sequence with {@link #padId()}.
 *
 * <p>Never touches the network: see the static initializer. The native library is extracted once from the
 * DJL jar into the DJL cache folder (~/.djl.ai, or $DJL_CACHE_DIR).
 */
public final class TextTokenizer implements AutoCloseable {
    public static final String FILE_NAME = "tokenizer.json";
    public static final String CONFIG_FILE_NAME = "tokenizer_config.json";

    static {
        // DJL, unless told it is offline, (1) "calls home" on the first tokenizer it creates (EC2 metadata
        // probes, then an S3 telemetry request) and (2) on a machine with CUDA picks a GPU build of the
        // native library that is not in the jar and downloads it. Offline mode stops both and uses the CPU
        // library bundled in the jar. We only set the switches when the user has not set them either way.
        if (System.getenv("DJL_OFFLINE") == null && System.getProperty("ai.djl.offline") == null) {
            System.setProperty("ai.djl.offline", "true");
        }
        if (System.getenv("OPT_OUT_TRACKING") == null && System.getProperty("OPT_OUT_TRACKING") == null) {
            System.setProperty("OPT_OUT_TRACKING", "true");
        }
    }

    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final HuggingFaceTokenizer tokenizer;
    private final Path file;
    private final int maxLength;
    private final Map<String, Integer> vocab;
    private final int vocabSize;
    private final int padId;

    private TextTokenizer(HuggingFaceTokenizer tokenizer, Path file, int maxLength, Map<String, Integer> vocab,
            int vocabSize, int padId) {
        this.tokenizer = tokenizer;
        this.file = file;
        this.maxLength = maxLength;
        this.vocab = vocab;
        this.vocabSize = vocabSize;
        this.padId = padId;
    }

    /**
     * Loads {@code modelDir/tokenizer.json}; encodings are cut to at most {@code maxLength} tokens, special
     * tokens included.
     *
     * @throws UserInputException if the folder or tokenizer.json is missing or invalid, or maxLength is too
     *     small to hold the special tokens
     */
    public static TextTokenizer load(Path modelDir, int maxLength) {
        if (!Files.isDirectory(modelDir)) {
            throw new UserInputException(modelDir + (Files.exists(modelDir)
                    ? ": expected a model folder containing " + FILE_NAME + ", got a file"
                    : ": model folder does not exist"));
        }
        Path file = modelDir.resolve(FILE_NAME);
        if (!Files.isRegularFile(file)) {
            throw new UserInputException(modelDir + ": no " + FILE_NAME
                    + " in this model folder (only \"fast\" tokenizers are supported; save one with"
                    + " tokenizer.save_pretrained from transformers)");
        }
        if (maxLength < 1) {
            throw new UserInputException("max length must be positive, got " + maxLength);
        }

        // Parse the JSON ourselves first: a clean error for a broken file, and the vocabulary, which the DJL
        // binding does not expose (we need its size and the pad token's id).
        JsonNode root = readJson(file, true);
        Map<String, Integer> vocab = new HashMap<>();
        int maxId = collectVocabulary(file, root, vocab);
        int vocabSize = maxId + 1;
        JsonNode config = readJson(modelDir.resolve(CONFIG_FILE_NAME), false);
        int padId = findPadId(root, config, vocab);

        HuggingFaceTokenizer hf;
        Path corrected = null;
        try {
            ObjectNode fixed = SentencePieceNormalizer.corrected(root);
            if (fixed != null) {
                corrected = Files.createTempFile("dynalora-tokenizer", ".json");
                Files.write(corrected, new ObjectMapper().writeValueAsBytes(fixed));
            }
            HuggingFaceTokenizer.Builder b = HuggingFaceTokenizer.builder()
                    .optTokenizerPath(corrected != null ? corrected : file)
                    .optAddSpecialTokens(true)
                    .optTruncation(true) // LONGEST_FIRST, as Hugging Face's truncation=True
                    .optPadding(false)
                    .optMaxLength(maxLength)
                    .optStride(0)
                    .optWithOverflowingTokens(false);
            // DJL caps maxLength at "modelMaxLength" (512 unless given) with a warning; the caller's
            // maxLength is the limit we want, so make them equal.
            b.configure(Map.of("modelMaxLength", String.valueOf(maxLength)));
            hf = b.build();
        } catch (EngineException e) {
            throw new UserInputException("cannot load the Hugging Face tokenizers native library for "
                    + System.getProperty("os.name") + "/" + System.getProperty("os.arch") + ": "
                    + FormatErrors.oneLine(String.valueOf(rootCause(e).getMessage()))
                    + " (if the cache folder is not writable, set DJL_CACHE_DIR)", e);
        } catch (IOException e) {
            throw new UserInputException(file + ": cannot read: " + FormatErrors.describe(e), e);
        } catch (RuntimeException e) {
            // The Rust side rejects a tokenizer.json it cannot deserialise (unknown model type, bad merges...).
            throw new UserInputException(file + ": not a valid tokenizer: "
                    + FormatErrors.oneLine(String.valueOf(e.getMessage())), e);
        } finally {
            if (corrected != null) {
                try {
                    Files.deleteIfExists(corrected); // the native side has read it
                } catch (IOException ignored) {
                    // A leftover temporary file is harmless.
                }
            }
        }

        TextTokenizer t = new TextTokenizer(hf, file, maxLength, vocab, vocabSize, padId);
        // When maxLength cannot hold the special tokens, the tokenizers library refuses the truncation setting
        // and DJL ignores that refusal: encodings then come back untruncated (or cut to tokenizer.json's own
        // limit). Catch it here, once, with a message about the setting. Empty texts need no truncation, so
        // their lengths are exactly the special-token counts.
        int specials;
        try {
            specials = Math.max(t.encodeRaw("").length(), t.encodePairRaw("", "").length());
        } catch (RuntimeException e) {
            t.close();
            throw e;
        }
        if (maxLength <= specials) {
            t.close();
            throw new UserInputException(file + ": max length " + maxLength + " is too small: this tokenizer adds "
                    + specials + " special tokens to a text pair, so use at least " + (specials + 1));
        }
        return t;
    }

    /**
     * The token ids of a text alone: no special tokens (no BOS, [CLS] or [SEP]) and no truncation to the
     * maximum length, as SentencePiece's {@code encode} gives them. Causal-LM data is built from these pieces
     * (BOS + document, BOS + prompt + completion + EOS), exactly as the PyTorch reference builds it.
     */
    public int[] encodeTokens(String text) {
        Objects.requireNonNull(text, "text");
        try {
            long[] ids = tokenizer.encode(text, false, false).getIds();
            int[] out = new int[ids.length];
            for (int i = 0; i < ids.length; i++) {
                out[i] = Math.toIntExact(ids[i]);
            }
            return out;
        } catch (RuntimeException e) {
            throw encodeFailure(e);
        }
    }

    /** Tokenizes one text. */
    public Encoding encode(String text) {
        return checked(encodeRaw(text));
    }

    private Encoding encodeRaw(String text) {
        Objects.requireNonNull(text, "text");
        try {
            return convert(tokenizer.encode(text));
        } catch (RuntimeException e) {
            throw encodeFailure(e);
        }
    }

    /**
     * Tokenizes a text pair (BERT: [CLS] a [SEP] b [SEP], type ids 0 then 1). If too long, both texts are cut
     * at their ends by the fast tokenizers' "longest_first" rule: the shorter text is kept whole if it fits in
     * half of the space and the longer one gets the rest; otherwise each gets half (the odd token going to the
     * second). Python's slow tokenizers split slightly differently in that last case; we match the fast ones,
     * which transformers uses by default.
     */
    public Encoding encodePair(String a, String b) {
        return checked(encodePairRaw(a, b));
    }

    private Encoding encodePairRaw(String a, String b) {
        Objects.requireNonNull(a, "a");
        Objects.requireNonNull(b, "b");
        try {
            return convert(tokenizer.encode(a, b));
        } catch (RuntimeException e) {
            throw encodeFailure(e);
        }
    }

    /** {@link #encode} for many texts at once; the native side spreads the work over threads. */
    public List<Encoding> encodeBatch(List<String> texts) {
        String[] array = texts.toArray(new String[0]);
        for (String s : array) {
            Objects.requireNonNull(s, "text");
        }
        try {
            List<Encoding> out = new ArrayList<>(array.length);
            for (ai.djl.huggingface.tokenizers.Encoding e : tokenizer.batchEncode(array)) {
                out.add(checked(convert(e)));
            }
            return out;
        } catch (RuntimeException e) {
            throw encodeFailure(e);
        }
    }

    /** Turns ids back into text (for inspecting data and generated text). */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            l[i] = ids[i];
        }
        return tokenizer.decode(l, skipSpecialTokens);
    }

    /** The id to pad batches with. See {@link #findPadId} for where it comes from. */
    public int padId() {
        return padId;
    }

    /** One more than the largest token id (added tokens included): every id encode can return is below it. */
    public int vocabSize() {
        return vocabSize;
    }

    public int maxLength() {
        return maxLength;
    }

    /** The id of {@code token} (a vocabulary entry or added/special token such as "[CLS]"), if present. */
    public OptionalInt tokenId(String token) {
        Integer id = vocab.get(token);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /** The tokenizer.json this was loaded from. */
    public Path file() {
        return file;
    }

    @Override
    public void close() {
        tokenizer.close();
    }

    private UserInputException encodeFailure(RuntimeException e) {
        return new UserInputException(file + ": tokenization failed: "
                + FormatErrors.oneLine(String.valueOf(e.getMessage())), e);
    }

    /**
     * Guards the promise that no encoding exceeds maxLength (position embeddings are sized by it): a breach
     * would mean the truncation setting did not take, which load() is meant to rule out.
     */
    private Encoding checked(Encoding e) {
        if (e.length() > maxLength) {
            throw new IllegalStateException(file + ": tokenizer returned " + e.length() + " tokens despite max length "
                    + maxLength);
        }
        return e;
    }

    private static Encoding convert(ai.djl.huggingface.tokenizers.Encoding e) {
        return new Encoding(toInts(e.getIds()), toInts(e.getTypeIds()), toInts(e.getAttentionMask()),
                e.exceedMaxLength());
    }

    private static int[] toInts(long[] a) {
        int[] out = new int[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = Math.toIntExact(a[i]);
        }
        return out;
    }

    private static Throwable rootCause(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        return c;
    }

    /** Reads a JSON object file; when optional and missing, returns null. */
    private static JsonNode readJson(Path file, boolean required) {
        if (!required && !Files.exists(file)) {
            return null;
        }
        JsonNode node;
        try {
            node = MAPPER.readTree(Files.readString(file, StandardCharsets.UTF_8));
        } catch (JsonProcessingException e) {
            throw new UserInputException(file + ": not valid JSON: " + FormatErrors.describe(e), e);
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new UserInputException(file + ": not valid UTF-8", e);
        } catch (IOException e) {
            throw new UserInputException(file + ": cannot read: " + FormatErrors.describe(e), e);
        }
        if (node == null || !node.isObject()) {
            throw new UserInputException(file + ": expected a JSON object");
        }
        return node;
    }

    /**
     * Fills {@code vocab} from model.vocab (an object token -> id for WordPiece, BPE and WordLevel; a list of
     * [token, score] pairs for Unigram, where the id is the position) and added_tokens; returns the largest id.
     */
    private static int collectVocabulary(Path file, JsonNode root, Map<String, Integer> vocab) {
        int maxId = -1;
        JsonNode v = root.path("model").path("vocab");
        if (v.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                int id = tokenIdValue(file, e.getValue());
                vocab.put(e.getKey(), id);
                maxId = Math.max(maxId, id);
            }
        } else if (v.isArray()) {
            for (int i = 0; i < v.size(); i++) {
                JsonNode entry = v.get(i);
                if (entry.isArray() && entry.size() > 0 && entry.get(0).isTextual()) {
                    vocab.putIfAbsent(entry.get(0).textValue(), i);
                }
            }
            maxId = v.size() - 1;
        } else {
            throw new UserInputException(file + ": no model.vocab (not a Hugging Face tokenizer.json?)");
        }
        for (JsonNode t : root.path("added_tokens")) {
            JsonNode content = t.get("content");
            if (content != null && content.isTextual() && t.has("id")) {
                int id = tokenIdValue(file, t.get("id"));
                vocab.put(content.textValue(), id);
                maxId = Math.max(maxId, id);
            }
        }
        if (maxId < 0) {
            throw new UserInputException(file + ": the vocabulary is empty");
        }
        return maxId;
    }

    private static int tokenIdValue(Path file, JsonNode n) {
        if (!n.isIntegralNumber() || !n.canConvertToInt() || n.intValue() < 0) {
            throw new UserInputException(file + ": token ids must be non-negative integers, got " + n);
        }
        return n.intValue();
    }

    /**
     * The pad id, first found of: tokenizer.json's padding.pad_id; tokenizer_config.json's pad_token; a
     * "[PAD]" or "&lt;pad&gt;" token; tokenizer_config.json's eos_token (the usual choice for Llama, which has
     * no pad token); else 0. Any id works for padding positions the attention mask hides; a real pad token is
     * preferred so padded batches look like transformers' own.
     */
    private static int findPadId(JsonNode root, JsonNode config, Map<String, Integer> vocab) {
        JsonNode padding = root.get("padding");
        if (padding != null && padding.isObject() && padding.path("pad_id").isIntegralNumber()
                && padding.path("pad_id").canConvertToInt() && padding.path("pad_id").intValue() >= 0) {
            return padding.path("pad_id").intValue();
        }
        Integer id = configToken(config, "pad_token", vocab);
        if (id != null) {
            return id;
        }
        for (String candidate : new String[] {"[PAD]", "<pad>"}) {
            if (vocab.containsKey(candidate)) {
                return vocab.get(candidate);
            }
        }
        id = configToken(config, "eos_token", vocab);
        return id != null ? id : 0;
    }

    /** A special token named in tokenizer_config.json: a string, or an object with "content" (AddedToken). */
    private static Integer configToken(JsonNode config, String key, Map<String, Integer> vocab) {
        if (config == null) {
            return null;
        }
        JsonNode t = config.get(key);
        if (t != null && t.isObject()) {
            t = t.get("content");
        }
        if (t == null || !t.isTextual()) {
            return null;
        }
        return vocab.get(t.textValue());
    }

    @Override
    public String toString() {
        return "TextTokenizer[" + file + ", vocab=" + vocabSize + ", maxLength=" + maxLength + "]";
    }
}
