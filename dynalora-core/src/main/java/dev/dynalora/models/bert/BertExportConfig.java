package dev.dynalora.models.bert;

import dev.dynalora.models.HfFolderSpec;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.UserInputException;
import dev.dynalora.formats.ModelConfig;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The BERT family's part of a merged export: config.json of a BertForSequenceClassification (the encoder's config
 * plus the classification fields) and the tokenizer files AutoTokenizer reads for BERT.
 */
public final class BertExportConfig {
    /** Tokenizer files transformers' AutoTokenizer reads for BERT, copied when the source folder has them. */
    static final List<String> FILES = List.of(
            "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json", "added_tokens.json");

    private BertExportConfig() {
    }

    /**
     * @param labelNames one name per label, index order (null: LABEL_0, LABEL_1, ... as transformers names them)
     * @throws UserInputException if labelNames do not fit the model
     */
    public static HfFolderSpec folder(ModelConfig config, String[] labelNames, int numLabels) {
        return new HfFolderSpec(configJson(config, labels(labelNames, numLabels)), FILES);
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
}
