package dev.dynalora.generation;

import dev.dynalora.layers.Softmax;
import dev.dynalora.models.CausalLm;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * One sequence being generated, step by step, for callers that run the forward passes themselves (a server's
 * continuous-batching scheduler): it takes each step's logits row and decides the next token, the text that
 * became final and whether the sequence ended, exactly as {@link Generator} does for the prompt at index
 * {@code index} of its list: the same sampler, the same per-prompt random generator (derived from the
 * config's seed and the index), the same end-of-sequence, stop-string and length rules, and the same
 * logprobs. Given the same logits rows, it produces the tokens, text and finish reason {@link Generator}
 * produces.
 *
 * <p>Not thread-safe: one thread steps a sequence.
 */
public final class DecodingSequence {
    private final CausalLm model;
    private final GenerationConfig config;
    private final int index;
    private final int[] prompt;
    private final Sampler sampler;
    private final SplittableRandom rng;
    private final CompletionText text;
    private final List<TopLogprobs> logprobs = new ArrayList<>();
    private final float[] scratch;
    private final int vocab;
    private int[] tokens = new int[16];
    private float[] chosenLogprobs = new float[16];
    private int size;
    private FinishReason finish;
    private String lastText = "";

    /**
     * @param detok for stop strings and text (null: ids only; stop strings are then refused)
     * @param index the prompt's position in its request (its random generator is derived from it and the seed)
     */
    public DecodingSequence(CausalLm model, Detokenizer detok, int[] prompt, GenerationConfig config, int index) {
        if (!config.stop().isEmpty() && detok == null) {
            throw new IllegalArgumentException("stop strings need a detokenizer");
        }
        if (prompt.length == 0) {
            throw new IllegalArgumentException("empty prompt");
        }
        this.model = model;
        this.config = config;
        this.index = index;
        this.prompt = prompt.clone();
        this.vocab = model.vocabSize();
        this.sampler = new Sampler(config, vocab);
        this.rng = new SplittableRandom(mix(config.seed(), index));
        this.text = detok != null ? new CompletionText(detok, this.prompt, config.stop()) : null;
        this.scratch = config.logprobs() > 0 ? new float[vocab] : null;
    }

    /**
     * Whether the prompt leaves no room for a single new token (it fills the model's context): such a sequence
     * is not run; {@link #finishWithoutTokens} ends it, as {@link Generator} does.
     */
    public boolean promptFillsContext() {
        return prompt.length >= model.maxPositions();
    }

    /** Ends a sequence whose prompt fills the context, with no tokens and finish reason length. */
    public String finishWithoutTokens() {
        return end(FinishReason.LENGTH);
    }

    public int[] prompt() {
        return prompt;
    }

    /** The token to feed next (the last one chosen). */
    public int last() {
        return tokens[size - 1];
    }

    /** Tokens generated so far. */
    public int generated() {
        return size;
    }

    /** Why the sequence ended, null while it runs. */
    public FinishReason finishReason() {
        return finish;
    }

    /**
     * Chooses the next token from logits[off, off + vocabulary) and records it; returns the text that became
     * final with it (possibly empty, and when the sequence ended, everything still held back). Check
     * {@link #finishReason} after each call.
     */
    public String accept(float[] logits, int off) {
        if (finish != null) {
            throw new IllegalStateException("the sequence already ended (" + finish.json() + ")");
        }
        if (config.logprobs() > 0) {
            logprobs.add(Generator.topLogprobs(logits, off, vocab, config.logprobs(), scratch));
        }
        int token = sampler.next(logits, off, rng);
        float chosen = Float.NaN;
        if (config.logprobs() > 0) {
            chosen = (float) (logits[off + token] - Softmax.logSumExp(logits, off, vocab, scratch));
        }
        add(token, chosen);
        String out = "";
        FinishReason reason = null;
        if (!config.ignoreEos() && isEos(token)) {
            reason = FinishReason.STOP;
        } else if (text != null) {
            out = text.add(token);
            if (text.stopped()) {
                reason = FinishReason.STOP;
            }
        }
        if (reason == null && (size == config.maxNewTokens() || prompt.length + size >= model.maxPositions())) {
            reason = FinishReason.LENGTH;
        }
        if (reason != null) {
            out = out + end(reason);
        }
        lastText = out;
        return out;
    }

    /** The text the last {@link #accept} returned. */
    public String lastText() {
        return lastText;
    }

    /** The chosen tokens' log-probabilities (NaN unless logprobs were asked for). */
    public float[] chosenLogprobs() {
        return Arrays.copyOf(chosenLogprobs, size);
    }

    /** The result so far; whole once the sequence ended. */
    public Completion completion() {
        return new Completion(index, prompt.clone(), Arrays.copyOf(tokens, size), text != null ? text.text() : null,
                finish, List.copyOf(logprobs));
    }

    private String end(FinishReason reason) {
        finish = reason;
        return text != null ? text.finish() : "";
    }

    private void add(int token, float logprob) {
        if (size == tokens.length) {
            tokens = Arrays.copyOf(tokens, size * 2);
            chosenLogprobs = Arrays.copyOf(chosenLogprobs, size * 2);
        }
        chosenLogprobs[size] = logprob;
        tokens[size++] = token;
    }

    private boolean isEos(int token) {
        for (int e : model.eosTokenIds()) {
            if (e == token) {
                return true;
            }
        }
        return false;
    }

    /** The per-prompt seed, as {@link Generator} derives it (SplitMix64's finaliser of seed and index). */
    static long mix(long seed, int index) {
        long z = seed + 0x9E3779B97F4A7C15L * (index + 1L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
