package dev.dynalora.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.Setting;
import dev.dynalora.UserInputException;
import dev.dynalora.UserMessage;
import dev.dynalora.tokenize.TextTokenizer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Causal-LM data, built exactly as the PyTorch reference (shared/reference/torch_llama_lora.py) builds it, so
 * that losses and perplexities compare:
 * <ul>
 *   <li>task {@code lm}: a text file; documents are the pieces between blank lines ("\n\n"; blank pieces
 *       dropped); each becomes BOS + tokens(document + "\n\n"); the documents' tokens are concatenated and cut
 *       into windows of block + 1 tokens that overlap by one (inputs = window[:-1], targets = window[1:]); a
 *       last partial window is dropped;</li>
 *   <li>task {@code sft}: JSON lines {"prompt": ..., "completion": ...}; each becomes BOS + tokens(prompt)
 *       + tokens(completion) + EOS, prompt and completion tokenized separately, cut to block + 1 tokens; loss
 *       on the completion's tokens only; no packing across examples.</li>
 * </ul>
 */
public final class LmDataReader {
    public static final String TRAIN_TXT = "train.txt";
    public static final String VALID_TXT = "valid.txt";
    public static final String TRAIN_JSONL = "train.jsonl";
    public static final String VALID_JSONL = "valid.jsonl";

    private static final ObjectMapper JSON = new ObjectMapper();

    private LmDataReader() {
    }

    /**
     * The windows of a plain-text file.
     *
     * @param block tokens the model reads per window (the run's maxLen)
     * @param limit the first {@code limit} windows only (0: all)
     */
    public static List<LmExample> textBlocks(Path file, TextTokenizer tok, int bos, int block, int limit) {
        String text = TextFiles.readUtf8(file);
        List<String> docs = new ArrayList<>();
        for (String d : text.split("\n\n", -1)) {
            if (!d.isBlank()) {
                docs.add(d + "\n\n");
            }
        }
        if (docs.isEmpty()) {
            throw new UserInputException(file + ": no text (documents are separated by blank lines)");
        }
        int total = 0;
        List<int[]> pieces = new ArrayList<>(docs.size());
        for (String d : docs) {
            int[] ids = tok.encodeTokens(d);
            pieces.add(ids);
            total += 1 + ids.length;
        }
        int[] stream = new int[total];
        int at = 0;
        for (int[] ids : pieces) {
            stream[at++] = bos;
            System.arraycopy(ids, 0, stream, at, ids.length);
            at += ids.length;
        }
        int n = (stream.length - 1) / block;
        if (limit > 0) {
            n = Math.min(n, limit);
        }
        if (n == 0) {
            throw new UserInputException(UserMessage.of(file + ": " + stream.length + " tokens, fewer than one block of ",
                    Setting.MAX_LEN.is(block), " + 1"));
        }
        List<LmExample> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            int[] w = new int[block + 1];
            System.arraycopy(stream, i * block, w, 0, block + 1);
            out.add(new LmExample(w, 0));
        }
        return out;
    }

    /**
     * The prompt/completion pairs of a JSON-lines file. Pairs whose prompt alone fills the block have no
     * completion token left to learn from and are skipped (they would add nothing to the loss).
     *
     * @param block tokens the model reads per example at most (the run's maxLen)
     * @param limit the first {@code limit} pairs only (0: all)
     */
    public static List<LmExample> promptCompletions(Path file, TextTokenizer tok, int bos, int eos, int block, int limit) {
        List<String> lines = TextFiles.readUtf8Lines(file);
        List<LmExample> out = new ArrayList<>();
        for (int i = 0; i < lines.size() && (limit == 0 || out.size() < limit); i++) {
            String line = lines.get(i);
            if (line.isBlank()) {
                continue;
            }
            String where = file + ":" + (i + 1);
            JsonNode j;
            try {
                j = JSON.readTree(line);
            } catch (JsonProcessingException e) {
                throw new UserInputException(where + ": not a JSON object (" + e.getOriginalMessage() + ")");
            }
            String prompt = text(j, "prompt", where);
            String completion = text(j, "completion", where);
            int[] p = tok.encodeTokens(prompt);
            int[] c = tok.encodeTokens(completion);
            int len = Math.min(1 + p.length + c.length + 1, block + 1);
            int[] ids = new int[len];
            int at = 0;
            ids[at++] = bos;
            for (int t : p) {
                if (at < len) {
                    ids[at++] = t;
                }
            }
            for (int t : c) {
                if (at < len) {
                    ids[at++] = t;
                }
            }
            if (at < len) {
                ids[at++] = eos;
            }
            LmExample e = new LmExample(ids, p.length);
            if (e.targets() > 0) {
                out.add(e);
            }
        }
        if (out.isEmpty()) {
            throw new UserInputException(UserMessage.of(file + ": no prompt/completion pairs with a completion token"
                    + " within ", Setting.MAX_LEN.is(block)));
        }
        return out;
    }

    private static String text(JsonNode j, String key, String where) {
        if (j == null || !j.isObject()) {
            throw new UserInputException(where + ": not a JSON object with \"prompt\" and \"completion\"");
        }
        JsonNode v = j.get(key);
        if (v == null || !v.isTextual()) {
            throw new UserInputException(where + ": no \"" + key + "\" string");
        }
        return v.asText();
    }

    /** The file of a split: DIR/train.txt or DIR/valid.jsonl etc., which must exist. */
    public static Path splitFile(Path dir, boolean sft, boolean train) {
        if (!Files.isDirectory(dir)) {
            throw new UserInputException("data folder " + dir + " does not exist");
        }
        String name = sft ? (train ? TRAIN_JSONL : VALID_JSONL) : (train ? TRAIN_TXT : VALID_TXT);
        Path f = dir.resolve(name);
        if (!Files.isRegularFile(f)) {
            throw new UserInputException(UserMessage.of(dir + " has no " + name + " (", Setting.TASK.is(sft ? "sft" : "lm"), " reads "
                    + (sft ? TRAIN_JSONL + " and " + VALID_JSONL : TRAIN_TXT + " and " + VALID_TXT) + ")"));
        }
        return f;
    }
}
