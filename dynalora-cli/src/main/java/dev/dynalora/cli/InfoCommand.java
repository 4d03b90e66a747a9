package dev.dynalora.cli;

import dev.dynalora.formats.ModelConfig;
import dev.dynalora.formats.SafetensorsReader;
import dev.dynalora.models.CheckpointWeights;
import dev.dynalora.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;

/** dynalora info: the architecture from config.json and parameter counts from the weights file. */
@Command(name = "info", mixinStandardHelpOptions = true, description = "Print a model's architecture and parameter counts.")
final class InfoCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face model folder.")
    Path model;

    @Override
    public Integer call() {
        ModelConfig c = ModelConfig.read(model);
        Path f = CheckpointWeights.file(model);
        PrintStream out = System.out;
        out.printf("model        %s%n", model);
        out.printf("model_type   %s%n", c.modelType());
        out.printf("layers       %d%n", c.numHiddenLayers());
        out.printf("hidden       %d%n", c.hiddenSize());
        out.printf("heads        %d (key/value heads %d, head dim %d)%n", c.numAttentionHeads(), c.numKeyValueHeads(),
                c.hiddenSize() / c.numAttentionHeads());
        out.printf("ffn          %d (%s)%n", c.intermediateSize(), c.hiddenAct());
        out.printf("vocab        %d%n", c.vocabSize());
        out.printf("max_position %d%n", c.maxPositionEmbeddings());
        Map<String, Long> groups = new TreeMap<>();
        Map<String, Long> dtypes = new TreeMap<>();
        long total = 0;
        try (SafetensorsReader r = SafetensorsReader.open(f)) {
            for (String name : r.names()) {
                long n = Tensor.numel(r.shape(name));
                total += n;
                groups.merge(group(name), n, Long::sum);
                dtypes.merge(r.dtype(name), n, Long::sum);
            }
        }
        out.printf("parameters   %,d%n", total);
        for (Map.Entry<String, Long> e : groups.entrySet()) {
            out.printf("  %-10s %,d%n", e.getKey(), e.getValue());
        }
        out.printf("stored as    %s%n", dtypes.keySet());
        return 0;
    }

    /** Coarse grouping by Hugging Face name: embeddings, each layer index, pooler, head, other. */
    static String group(String name) {
        String n = name.startsWith("bert.") ? name.substring(5) : name.startsWith("model.") ? name.substring(6) : name;
        if (n.startsWith("embeddings.") || n.startsWith("embed_tokens.")) {
            return "embeddings";
        }
        if (n.startsWith("encoder.layer.") || n.startsWith("layers.")) {
            String rest = n.startsWith("encoder.layer.") ? n.substring(14) : n.substring(7);
            int dot = rest.indexOf('.');
            String idx = dot > 0 ? rest.substring(0, dot) : rest;
            // Padded so that layer 10 sorts after layer 9.
            return "layer " + " ".repeat(Math.max(0, 3 - idx.length())) + idx;
        }
        if (n.startsWith("pooler.")) {
            return "pooler";
        }
        if (n.startsWith("classifier.") || n.startsWith("lm_head.")) {
            return "head";
        }
        return "other";
    }
}
