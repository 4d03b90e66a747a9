package dev.dynalora.generation;

import dev.dynalora.ConfigException;
import dev.dynalora.Setting;

import java.util.List;

/**
 * How to generate: when to stop and how to pick each token. Greedy (the most likely token) at temperature
 * 0, the default; with a temperature above 0 each token is sampled from softmax(logits / temperature),
 * restricted first to the topK most likely tokens (0: no limit) and then to the smallest set of most likely
 * tokens whose probabilities add up to topP (1: no limit), the order Hugging Face's generate applies them
 * in. Sampling is deterministic for a given seed: each prompt draws from its own generator, derived from the
 * seed and the prompt's index, so a prompt's completion does not depend on the batch it ran in.
 *
 * <p>An invalid setting is a {@link ConfigException} naming it.
 *
 * @param maxNewTokens tokens generated at most per prompt (finish reason "length" when reached)
 * @param stop         strings that end a completion (cut before the first one found; finish reason "stop")
 * @param logprobs     for each generated token, report the logprobs of this many most likely tokens (0: none)
 * @param ignoreEos    keep generating past the end-of-sequence token (for timing a fixed number of tokens)
 */
public record GenerationConfig(int maxNewTokens, float temperature, int topK, float topP, long seed,
                               List<String> stop, int logprobs, boolean ignoreEos) implements java.io.Serializable {
    /** Tokens generated at most per prompt unless told otherwise. */
    public static final int DEFAULT_MAX_NEW_TOKENS = 128;
    /** topK that does not limit the choice. */
    public static final int NO_TOP_K = 0;
    /** topP that does not limit the choice. */
    public static final float NO_TOP_P = 1f;

    public GenerationConfig {
        if (maxNewTokens < 1) {
            throw new ConfigException(Setting.MAX_NEW_TOKENS, "must be at least 1, got " + maxNewTokens);
        }
        if (!(temperature >= 0) || Float.isInfinite(temperature)) {
            throw new ConfigException(Setting.TEMPERATURE, "must be a number >= 0 (0 is greedy), got " + temperature);
        }
        if (topK < 0) {
            throw new ConfigException(Setting.TOP_K, "must be >= 0 (0: no limit), got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new ConfigException(Setting.TOP_P, "must be in (0, 1] (1: no limit), got " + topP);
        }
        if (logprobs < 0) {
            throw new ConfigException(Setting.LOGPROBS, "must be >= 0, got " + logprobs);
        }
        stop = List.copyOf(stop);
        for (String s : stop) {
            if (s.isEmpty()) {
                throw new ConfigException(Setting.STOP, "strings must not be empty");
            }
        }
    }

    /** Greedy decoding of at most maxNewTokens tokens, stopping at end-of-sequence. */
    public static GenerationConfig greedy(int maxNewTokens) {
        return new GenerationConfig(maxNewTokens, 0f, NO_TOP_K, NO_TOP_P, 0L, List.of(), 0, false);
    }

    /** Whether tokens are sampled (temperature above 0) rather than chosen greedily. */
    public boolean sampling() {
        return temperature > 0;
    }

    public GenerationConfig withStop(List<String> strings) {
        return new GenerationConfig(maxNewTokens, temperature, topK, topP, seed, strings, logprobs, ignoreEos);
    }

    public GenerationConfig withLogprobs(int k) {
        return new GenerationConfig(maxNewTokens, temperature, topK, topP, seed, stop, k, ignoreEos);
    }

    public GenerationConfig withSampling(float t, int k, float p, long s) {
        return new GenerationConfig(maxNewTokens, t, k, p, s, stop, logprobs, ignoreEos);
    }

    public GenerationConfig withIgnoreEos(boolean ignore) {
        return new GenerationConfig(maxNewTokens, temperature, topK, topP, seed, stop, logprobs, ignore);
    }
}
