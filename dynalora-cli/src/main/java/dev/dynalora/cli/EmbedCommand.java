package dev.dynalora.cli;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import dev.dynalora.UserInputException;
import dev.dynalora.data.TextFiles;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.models.bert.BertEncoder;
import dev.dynalora.models.bert.PretrainedBert;
import dev.dynalora.models.bert.SentenceEmbeddings;
import dev.dynalora.tokenize.Encoding;
import dev.dynalora.tokenize.TextTokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * dynalora embed: one JSON object per input line with input_ids, token_type_ids and the pooled embedding.
 * A tab in a line separates the two sentences of a pair. These fields and flags are a contract.
 */
@Command(name = "embed", mixinStandardHelpOptions = true, description = "Embed sentences (one per line, TAB separates a pair) as JSON lines.")
final class EmbedCommand implements Callable<Integer> {
    enum Pooling { mean, cls }

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face model folder.")
    Path model;

    @Option(names = "--input", required = true, paramLabel = "FILE", description = "UTF-8 text, one example per line.")
    Path input;

    @Option(names = "--pooling", defaultValue = "mean", description = "mean (over non-padding tokens) or cls. Default: ${DEFAULT-VALUE}.")
    Pooling pooling;

    @Option(names = "--normalize", description = "L2-normalise each embedding.")
    boolean normalize;

    @Option(names = "--max-len", defaultValue = "512", paramLabel = "N", description = "Truncate to N tokens. Default: ${DEFAULT-VALUE}.")
    int maxLen;

    @Option(names = "--batch", defaultValue = "32", paramLabel = "N", description = "Examples per forward pass. Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() throws IOException {
        if (maxLen < 2) {
            throw new UserInputException("--max-len must be at least 2, got " + maxLen);
        }
        if (batchSize < 1) {
            throw new UserInputException("--batch must be positive, got " + batchSize);
        }
        List<String> lines = TextFiles.readUtf8Lines(input);
        BertEncoder encoder = PretrainedBert.loadEncoder(model);
        if (maxLen > encoder.config().maxPositionEmbeddings()) {
            throw new UserInputException("--max-len " + maxLen + " exceeds the model's max_position_embeddings "
                    + encoder.config().maxPositionEmbeddings());
        }
        try (TextTokenizer tok = TextTokenizer.load(model, maxLen);
             CpuKernels k = threads.kernels()) {
            OutputStream out = new BufferedOutputStream(System.out, 1 << 16);
            JsonGenerator json = new JsonFactory().createGenerator(out);
            json.setRootValueSeparator(null);
            for (int start = 0; start < lines.size(); start += batchSize) {
                int end = Math.min(lines.size(), start + batchSize);
                List<int[]> ids = new ArrayList<>();
                List<int[]> types = new ArrayList<>();
                for (int i = start; i < end; i++) {
                    String line = lines.get(i);
                    int tab = line.indexOf('\t');
                    Encoding e = tab < 0 ? tok.encode(line) : tok.encodePair(line.substring(0, tab), line.substring(tab + 1));
                    ids.add(e.ids());
                    types.add(e.typeIds());
                }
                float[][] embeddings = SentenceEmbeddings.embed(k, encoder, ids, types, tok.padId(),
                        pooling == Pooling.cls, normalize);
                for (int e = 0; e < embeddings.length; e++) {
                    float[] emb = embeddings[e];
                    json.writeStartObject();
                    json.writeFieldName("input_ids");
                    json.writeArray(ids.get(e), 0, ids.get(e).length);
                    json.writeFieldName("token_type_ids");
                    json.writeArray(types.get(e), 0, types.get(e).length);
                    json.writeFieldName("embedding");
                    json.writeStartArray();
                    for (float v : emb) {
                        json.writeNumber(v);
                    }
                    json.writeEndArray();
                    json.writeEndObject();
                    json.writeRaw('\n');
                }
                json.flush();
            }
            json.flush();
            out.flush();
        }
        return 0;
    }
}
