package dev.dynalora.generation;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.UserInputException;
import dev.dynalora.formats.FormatErrors;
import dev.dynalora.tokenize.TextTokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * A decoder's tokenizer for generation: prompts to ids the way transformers' tokenizer would give them to
 * generate, and ids back to text ({@link Detokenizer}, special tokens skipped).
 *
 * <p>The beginning-of-sequence token follows tokenizer_config.json's add_bos_token (Llama 2's tokenizers,
 * stories15M's included, set it true): present, BOS leads every prompt (tokenizer.json's post-processor
 * normally adds it already; it is added if not); false, a BOS the post-processor added is removed; absent,
 * the ids are tokenizer.json's. Prompts are never truncated: one longer than the model's context is
 * refused by the {@link Generator}, naming both lengths.
 */
public final class PromptTokenizer implements Detokenizer, AutoCloseable {
    /** No truncation in practice: the generator compares prompt lengths with the context itself. */
    private static final int NO_LIMIT = 1 << 24;

    private final TextTokenizer tokenizer;
    private final Boolean addBos;
    private final int bosId;

    private PromptTokenizer(TextTokenizer tokenizer, Boolean addBos, int bosId) {
        this.tokenizer = tokenizer;
        this.addBos = addBos;
        this.bosId = bosId;
    }

    /**
     * Loads modelDir's tokenizer.json and reads add_bos_token from its tokenizer_config.json (if any).
     *
     * @param bosTokenId the model's beginning-of-sequence id ({@code CausalLm#bosTokenId}), negative if none
     */
    public static PromptTokenizer load(Path modelDir, int bosTokenId) {
        Boolean addBos = addBosToken(modelDir.resolve(TextTokenizer.CONFIG_FILE_NAME));
        TextTokenizer t = TextTokenizer.load(modelDir, NO_LIMIT);
        int bos = bosTokenId >= 0 ? bosTokenId : t.tokenId("<s>").orElse(-1);
        if (Boolean.TRUE.equals(addBos) && bos < 0) {
            t.close();
            throw new UserInputException(modelDir + ": tokenizer_config.json sets add_bos_token but the model has no"
                    + " bos_token_id and the vocabulary no <s>");
        }
        return new PromptTokenizer(t, addBos, bos);
    }

    private static Boolean addBosToken(Path file) {
        if (!Files.isRegularFile(file)) {
            return null;
        }
        JsonNode v;
        try {
            v = new ObjectMapper().readTree(Files.readString(file)).get("add_bos_token");
        } catch (IOException e) {
            throw new UserInputException(file + ": cannot read: " + FormatErrors.describe(e), e);
        }
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isBoolean()) {
            throw new UserInputException(file + ": \"add_bos_token\" must be true or false, got " + v);
        }
        return v.booleanValue();
    }

    /** The prompt's token ids, BOS as the tokenizer config says. */
    public int[] encode(String prompt) {
        int[] ids = tokenizer.encode(prompt).ids();
        boolean startsWithBos = ids.length > 0 && ids[0] == bosId;
        if (Boolean.TRUE.equals(addBos) && !startsWithBos) {
            int[] withBos = new int[ids.length + 1];
            withBos[0] = bosId;
            System.arraycopy(ids, 0, withBos, 1, ids.length);
            return withBos;
        }
        if (Boolean.FALSE.equals(addBos) && startsWithBos) {
            return Arrays.copyOfRange(ids, 1, ids.length);
        }
        return ids;
    }

    /**
     * The ids of a text that carries its own special tokens, such as a rendered chat template ("&lt;s&gt;[INST]
     * ..."): nothing added or removed, whatever add_bos_token says (transformers' add_special_tokens=False, as
     * apply_chat_template tokenizes its text). Special tokens written in the text become their ids.
     */
    public int[] encodeVerbatim(String text) {
        return tokenizer.encodeTokens(text);
    }

    @Override
    public String decode(int[] ids, int from, int to) {
        return tokenizer.decode(Arrays.copyOfRange(ids, from, to), true);
    }

    /** The text of all of ids (special tokens skipped). */
    public String decode(int[] ids) {
        return tokenizer.decode(ids, true);
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
