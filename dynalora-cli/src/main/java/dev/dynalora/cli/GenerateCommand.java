package dev.dynalora.cli;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import dev.dynalora.UserInputException;
import dev.dynalora.formats.AtomicFiles;
import dev.dynalora.generation.Completion;
import dev.dynalora.generation.GenerationConfig;
import dev.dynalora.generation.Generator;
import dev.dynalora.generation.PromptTokenizer;
import dev.dynalora.generation.TopLogprobs;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.models.AutoModels;
import dev.dynalora.models.CausalLm;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * dynalora generate: completions from a Llama-family model, for a JSONL file of prompts (one JSON line out per
 * prompt, in order, written whole or not at all) or for one --prompt streamed to standard output as it is
 * generated. Every input is checked before the model runs: a malformed line or a prompt longer than the
 * model's context stops the command at once, naming the line.
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate text with a causal language model (Llama family): prompts from a JSONL file, or one --prompt streamed to standard output.")
public final class GenerateCommand implements Callable<Integer> {
    /** How an output line begins: finish_reason comes first so --overwrite can recognise our files (see OutputFile). */
    public static final String SIGNATURE = "{\"finish_reason\":\"";

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face causal-LM folder (model_type llama).")
    Path model;

    @Option(names = "--adapter", paramLabel = "DIR", description = "A PEFT adapter folder (ours or Python PEFT's) or a"
            + " dynalora run folder (lm or sft) trained on --model: generate with its adapter (or fine-tuned weights).")
    Path adapter;

    @Option(names = "--input", paramLabel = "PROMPTS.jsonl", description = "One JSON object per line with a \"prompt\" string.")
    Path input;

    @Option(names = "--output", paramLabel = "OUT.jsonl", description = "Completions, one JSON line per prompt (with --input).")
    Path output;

    @Option(names = "--prompt", paramLabel = "TEXT", description = "One prompt; its completion is streamed to standard output.")
    String prompt;

    @Option(names = "--overwrite", description = "Replace an existing --output written by generate.")
    boolean overwrite;

    @Option(names = "--max-new-tokens", defaultValue = "" + GenerationConfig.DEFAULT_MAX_NEW_TOKENS, paramLabel = "N", description = "Default: ${DEFAULT-VALUE}.")
    int maxNewTokens;

    @Option(names = "--temperature", defaultValue = "0", description = "0 is greedy (the default); above 0 samples.")
    float temperature;

    @Option(names = "--top-k", paramLabel = "K", description = "Sample from the K most likely tokens only (with --temperature > 0).")
    Integer topK;

    @Option(names = "--top-p", paramLabel = "P", description = "Sample from the smallest set of most likely tokens holding probability P (with --temperature > 0).")
    Float topP;

    @Option(names = "--seed", description = "Seed for sampling (default: a random one, printed on standard error).")
    Long seed;

    @Option(names = "--stop", paramLabel = "TEXT", description = "End a completion before this text (repeatable).")
    List<String> stop = new ArrayList<>();

    @Option(names = "--logprobs", defaultValue = "0", paramLabel = "K", description = "Add top_logprobs: the K most likely tokens at each step (with --input).")
    int logprobs;

    @Option(names = "--batch", defaultValue = "" + Generator.DEFAULT_BATCH, paramLabel = "N", description = "Prompts generated at once. Default: ${DEFAULT-VALUE}.")
    int batch;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() throws IOException {
        GenerationConfig config = config();
        List<PromptsFile.Prompt> prompts = prompts();
        CausalLm m = AutoModels.causalLm(model);
        try (PromptTokenizer tok = PromptTokenizer.load(model, m.bosTokenId())) {
            List<int[]> ids = encode(tok, prompts, m.maxPositions());
            if (adapter != null) {
                DecoderAdapters.apply(m, model, adapter);
            }
            try (CpuKernels k = threads.kernels()) {
                Generator g = new Generator(m, k, tok);
                if (prompt != null) {
                    stream(g, ids, config);
                } else {
                    List<Completion> done;
                    try (Progress p = Progress.start("generate", ids.size(), "prompt")) {
                        done = g.generate(ids, config, batch, new Generator.Listener() {
                            @Override
                            public void onFinished(Completion c) {
                                p.stepBy(1);
                            }
                        });
                    }
                    write(prompts, done);
                }
            }
        }
        return 0;
    }

    private GenerationConfig config() {
        if ((input == null) == (prompt == null)) {
            throw new UserInputException("give either --input PROMPTS.jsonl (with --output) or --prompt TEXT");
        }
        if (input != null && output == null) {
            throw new UserInputException("--input needs --output OUT.jsonl");
        }
        if (prompt != null && (output != null || logprobs > 0)) {
            throw new UserInputException("--prompt streams text to standard output; --output and --logprobs go with --input");
        }
        if (temperature == 0 && (topK != null || topP != null)) {
            throw new UserInputException("--top-k and --top-p apply to sampling; add --temperature above 0 (0 is greedy)");
        }
        long s = seed != null ? seed : new SplittableRandom().nextLong();
        GenerationConfig c = new GenerationConfig(maxNewTokens, temperature, topK == null ? GenerationConfig.NO_TOP_K : topK,
                topP == null ? GenerationConfig.NO_TOP_P : topP, s, stop, logprobs, false);
        if (batch < 1) {
            throw new UserInputException("--batch must be at least 1, got " + batch);
        }
        if (c.sampling() && seed == null) {
            System.err.println("dynalora: sampling with --seed " + s + " (give it to repeat this run)");
        }
        return c;
    }

    private List<PromptsFile.Prompt> prompts() {
        if (prompt != null) {
            return List.of(new PromptsFile.Prompt(prompt, 0));
        }
        OutputFile.check("--output", output, overwrite, SIGNATURE, "a generations file", input, model);
        return PromptsFile.read(input);
    }

    /** Token ids of every prompt, each checked against the context before anything runs. */
    private List<int[]> encode(PromptTokenizer tok, List<PromptsFile.Prompt> prompts, int context) {
        List<int[]> ids = new ArrayList<>(prompts.size());
        for (PromptsFile.Prompt p : prompts) {
            int[] t = tok.encode(p.text());
            String where = prompt != null ? "--prompt" : input + " line " + p.line();
            if (t.length == 0) {
                throw new UserInputException(where + ": the prompt has no tokens (this tokenizer adds no BOS to an empty text)");
            }
            if (t.length > context) {
                throw new UserInputException(where + ": the prompt has " + t.length + " tokens, more than the model's context of "
                        + context + " tokens (max_position_embeddings)");
            }
            ids.add(t);
        }
        return ids;
    }

    /** --prompt: the completion's text on standard output as it grows (UTF-8, flushed at every piece). */
    private void stream(Generator g, List<int[]> ids, GenerationConfig config) {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        g.generate(ids, config, 1, new Generator.Listener() {
            @Override
            public void onText(int index, String text) {
                out.print(text);
                out.flush();
            }
        });
        out.println();
        out.flush();
    }

    private void write(List<PromptsFile.Prompt> prompts, List<Completion> done) {
        AtomicFiles.writeAtomically(output, os -> {
            JsonGenerator json = new JsonFactory().createGenerator(os);
            json.setRootValueSeparator(null);
            for (Completion c : done) {
                writeFields(json, c.finishReason().json(), prompts.get(c.index()).text(), c.text(), c.promptIds(),
                        c.completionIds());
                if (logprobs > 0) {
                    json.writeArrayFieldStart("top_logprobs");
                    for (TopLogprobs t : c.topLogprobs()) {
                        json.writeStartObject();
                        for (int i = 0; i < t.size(); i++) {
                            json.writeNumberField(Integer.toString(t.ids()[i]), t.logprobs()[i]);
                        }
                        json.writeEndObject();
                    }
                    json.writeEndArray();
                }
                json.writeEndObject();
                json.writeRaw('\n');
            }
            json.flush();
        });
    }

    /**
     * Opens a line of the generations file and writes its fields up to completion_ids (SIGNATURE's order); the
     * caller adds top_logprobs if any and closes the object. Shared with {@code spark generate}, whose file is
     * this command's.
     */
    public static void writeFields(JsonGenerator json, String finishReason, String prompt, String completion,
                                   int[] promptIds, int[] completionIds) throws IOException {
        json.writeStartObject();
        json.writeStringField("finish_reason", finishReason);
        json.writeStringField("prompt", prompt);
        json.writeStringField("completion", completion);
        json.writeFieldName("prompt_ids");
        json.writeArray(promptIds, 0, promptIds.length);
        json.writeFieldName("completion_ids");
        json.writeArray(completionIds, 0, completionIds.length);
    }
}
