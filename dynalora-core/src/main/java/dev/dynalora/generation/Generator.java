package dev.dynalora.generation;

import dev.dynalora.ConfigException;
import dev.dynalora.Setting;
import dev.dynalora.UserInputException;
import dev.dynalora.UserMessage;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.layers.Softmax;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.CausalLm;
import dev.dynalora.models.DecodingCache;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Text generation with a KV cache: each prompt is run through the model once (prefill), then every step
 * feeds each sequence only its last token. Up to {@code batch} sequences are in flight at once: a decode
 * step runs the projections, MLP and lm_head of all of them as one matrix product (one row per sequence,
 * each at its own position) and attention per sequence over its own cache, and when a sequence finishes,
 * the next prompt is prefilled into its cache slot while the others go on.
 *
 * <p>Batching changes no result: a prompt is prefilled alone, and the CPU backend computes a decode step's
 * rows independently of each other (see kernels.Gemv), so a prompt gets the same tokens, logprobs and (with
 * the same seed) samples alone or in any batch.
 *
 * <p>The generator runs whatever {@link CausalLm} it is given, adapters included: the cached
 * forward goes through the same linear modules. An adapter whose output depends on a whole sequence (a
 * gated Dynamic LoRA adapter with a gate per example) cannot be cached and is refused.
 */
public final class Generator {
    private final CausalLm model;
    private final Kernels kernels;
    private final Detokenizer detok;
    private final Stats stats = new Stats();

    /** Receives a streamed completion as it grows, and each finished completion. */
    public interface Listener {
        /** New final text of prompt {@code index} (only with a detokenizer). */
        default void onText(int index, String text) {
        }

        default void onFinished(Completion completion) {
        }
    }

    /** Timings of the last {@link #generate} call. */
    public static final class Stats {
        /** Time in prefill forward passes (prompts), and the tokens they produced (one per prompt). */
        public long prefillNanos;
        public int prefillTokens;
        /** Time in decode steps, and the tokens they produced (one per sequence per step). */
        public long decodeNanos;
        public int decodeSteps;
        public int decodeTokens;
    }

    /**
     * @param detok turns ids into text for stop strings, streaming and {@link Completion#text}; null for ids
     *              only (stop strings are then refused)
     */
    public Generator(CausalLm model, Kernels kernels, Detokenizer detok) {
        this.model = model;
        this.kernels = kernels;
        this.detok = detok;
        for (LinearModule m : model.linearModules()) {
            if (m.adapter() instanceof LoraAdapter a && a.gated() && !a.gatePerToken()) {
                throw new UserInputException(UserMessage.of("the adapter on " + m.name() + " has a gate per example,"
                        + " which depends on the whole sequence and cannot be used with a KV cache; generate with an"
                        + " adapter trained with ", Setting.GATE.is(false), " or ", Setting.GATE_PER_TOKEN.is(true)));
            }
        }
    }

    /** Prompts generated at once unless told otherwise. */
    public static final int DEFAULT_BATCH = 8;

    public Stats stats() {
        return stats;
    }

    /**
     * Generates a completion for every prompt (token ids, as the model's tokenizer gives them, BOS included)
     * with at most {@code batch} in flight; returns them in prompt order.
     *
     * @throws UserInputException for a prompt longer than the model's context (max_position_embeddings) or
     *     an empty one, or stop strings without a detokenizer
     */
    public List<Completion> generate(List<int[]> prompts, GenerationConfig config, int batch, Listener listener) {
        return generate(prompts, 0, config, batch, listener);
    }

    /**
     * As {@link #generate(List, GenerationConfig, int, Listener)} for a slice of a longer list of prompts whose
     * first element is prompt {@code firstIndex} of that list: each prompt's random generator is derived from the
     * seed and its index in the whole list, so that sampling gives every prompt what one call over the whole list
     * gives it (a Spark partition generates its rows this way). Completions keep their index in the slice.
     */
    public List<Completion> generate(List<int[]> prompts, long firstIndex, GenerationConfig config, int batch,
                                     Listener listener) {
        if (firstIndex < 0) {
            throw new IllegalArgumentException("firstIndex must be >= 0, got " + firstIndex);
        }
        int context = model.maxPositions();
        if (batch < 1) {
            throw new ConfigException(Setting.BATCH, "must be at least 1, got " + batch);
        }
        if (!config.stop().isEmpty() && detok == null) {
            throw new IllegalArgumentException("stop strings need a detokenizer");
        }
        if (config.logprobs() > model.vocabSize()) {
            throw new ConfigException(Setting.LOGPROBS, config.logprobs() + " exceeds the vocabulary of " + model.vocabSize() + " tokens");
        }
        int longest = 0;
        for (int i = 0; i < prompts.size(); i++) {
            int n = prompts.get(i).length;
            if (n == 0) {
                throw new UserInputException("prompt " + (i + 1) + " has no tokens");
            }
            if (n > context) {
                throw new UserInputException("prompt " + (i + 1) + " has " + n + " tokens, more than the model's context of "
                        + context + " tokens (max_position_embeddings)");
            }
            longest = Math.max(longest, n);
        }
        stats.prefillNanos = 0;
        stats.prefillTokens = 0;
        stats.decodeNanos = 0;
        stats.decodeSteps = 0;
        stats.decodeTokens = 0;
        if (prompts.isEmpty()) {
            return List.of();
        }
        int capacity = (int) Math.min(context, (long) longest + config.maxNewTokens());
        Run run = new Run(prompts, firstIndex, config, model.newDecodingCache(Math.min(batch, prompts.size()), capacity),
                listener != null ? listener : new Listener() { });
        return run.all();
    }

    /** The state of one {@link #generate} call: the cache, its slots, the sequences in flight and those done. */
    private final class Run {
        final List<int[]> prompts;
        final long firstIndex;     // the index of prompts.get(0) in the whole list, for the per-prompt seeds
        final GenerationConfig config;
        final DecodingCache cache;
        final Listener out;
        final Sampler sampler;
        final float[] scratch;     // logprobs' exp buffer
        final Sequence[] slots;    // the sequence in each cache slot, null when free
        final List<Sequence> active = new ArrayList<>();
        final Completion[] done;
        final int vocab;

        Run(List<int[]> prompts, long firstIndex, GenerationConfig config, DecodingCache cache, Listener out) {
            this.prompts = prompts;
            this.firstIndex = firstIndex;
            this.config = config;
            this.cache = cache;
            this.out = out;
            this.vocab = model.vocabSize();
            this.sampler = new Sampler(config, vocab);
            this.scratch = config.logprobs() > 0 ? new float[vocab] : null;
            this.slots = new Sequence[cache.slots()];
            this.done = new Completion[prompts.size()];
        }

        /** Fills free slots with the next prompts, steps the sequences in flight, until every prompt is done. */
        List<Completion> all() {
            int next = 0;
            while (true) {
                for (int slot = 0; slot < slots.length && next < prompts.size(); slot++) {
                    if (slots[slot] == null) {
                        start(next++, slot);
                    }
                }
                if (active.isEmpty()) {
                    return List.of(done);
                }
                decodeStep();
            }
        }

        /** Prefills a prompt into a free slot and takes its first token (or finishes it at once). */
        void start(int index, int slot) {
            int[] prompt = prompts.get(index);
            Sequence s = new Sequence(index, firstIndex + index, slot, prompt, config, detok);
            if (prompt.length >= model.maxPositions()) {
                // The context is full: not a single token fits after the prompt.
                finish(s, FinishReason.LENGTH);
                return;
            }
            cache.clear(slot);
            long t0 = System.nanoTime();
            float[] logits = model.forwardCached(kernels, cache, new int[] {slot}, new int[][] {prompt});
            stats.prefillNanos += System.nanoTime() - t0;
            stats.prefillTokens++;
            slots[slot] = s;
            active.add(s);
            accept(s, logits, 0);
        }

        /** One token for every sequence in flight, in one forward pass. */
        void decodeStep() {
            List<Sequence> step = new ArrayList<>(active);
            int n = step.size();
            int[] slotIds = new int[n];
            int[][] tokens = new int[n][];
            for (int i = 0; i < n; i++) {
                Sequence s = step.get(i);
                slotIds[i] = s.slot;
                tokens[i] = new int[] {s.last()};
            }
            long t0 = System.nanoTime();
            float[] logits = model.forwardCached(kernels, cache, slotIds, tokens);
            stats.decodeNanos += System.nanoTime() - t0;
            stats.decodeSteps++;
            stats.decodeTokens += n;
            for (int i = 0; i < n; i++) {
                accept(step.get(i), logits, i * vocab);
            }
        }

        /** Picks the sequence's next token from its logits row, records it, and ends the sequence if it is done. */
        void accept(Sequence s, float[] logits, int off) {
            if (config.logprobs() > 0) {
                s.logprobs.add(topLogprobs(logits, off, vocab, config.logprobs(), scratch));
            }
            int token = sampler.next(logits, off, s.rng);
            s.add(token);
            FinishReason reason = null;
            if (!config.ignoreEos() && isEos(token)) {
                reason = FinishReason.STOP;
            } else if (s.text != null) {
                String t = s.text.add(token);
                if (!t.isEmpty()) {
                    out.onText(s.index, t);
                }
                if (s.text.stopped()) {
                    reason = FinishReason.STOP;
                }
            }
            if (reason == null && (s.size == config.maxNewTokens()
                    || s.prompt.length + s.size >= model.maxPositions())) {
                reason = FinishReason.LENGTH;
            }
            if (reason != null) {
                slots[s.slot] = null;
                active.remove(s);
                finish(s, reason);
            }
        }

        void finish(Sequence s, FinishReason reason) {
            String text = null;
            if (s.text != null) {
                String rest = s.text.finish();
                if (!rest.isEmpty()) {
                    out.onText(s.index, rest);
                }
                text = s.text.text();
            }
            Completion c = new Completion(s.index, s.prompt.clone(), Arrays.copyOf(s.tokens, s.size), text, reason,
                    List.copyOf(s.logprobs));
            done[s.index] = c;
            out.onFinished(c);
        }
    }

    private boolean isEos(int token) {
        for (int e : model.eosTokenIds()) {
            if (e == token) {
                return true;
            }
        }
        return false;
    }

    /** The k most likely tokens and their log-softmax of the full logits row (temperature 1). */
    static TopLogprobs topLogprobs(float[] logits, int off, int vocab, int k, float[] scratch) {
        double lse = Softmax.logSumExp(logits, off, vocab, scratch);
        int[] ids = TopK.indices(logits, off, vocab, k);
        float[] lp = new float[ids.length];
        for (int i = 0; i < ids.length; i++) {
            lp[i] = (float) (logits[off + ids[i]] - lse);
        }
        return new TopLogprobs(ids, lp);
    }

    /** A sequence in flight: its prompt, tokens so far, sampling state and text. */
    private static final class Sequence {
        final int index;
        final int slot;
        final int[] prompt;
        final SplittableRandom rng;
        final CompletionText text;
        final List<TopLogprobs> logprobs = new ArrayList<>();
        int[] tokens = new int[16];
        int size;

        Sequence(int index, long seedIndex, int slot, int[] prompt, GenerationConfig config, Detokenizer detok) {
            this.index = index;
            this.slot = slot;
            this.prompt = prompt;
            this.rng = new SplittableRandom(mix(config.seed(), seedIndex));
            this.text = detok != null ? new CompletionText(detok, prompt, config.stop()) : null;
        }

        void add(int token) {
            if (size == tokens.length) {
                tokens = Arrays.copyOf(tokens, size * 2);
            }
            tokens[size++] = token;
        }

        int last() {
            return tokens[size - 1];
        }

        /** A prompt's own seed: the run's seed and its index, scrambled (SplitMix64's finaliser). */
        static long mix(long seed, long index) {
            long z = seed + 0x9E3779B97F4A7C15L * (index + 1L);
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            return z ^ (z >>> 31);
        }
    }
}
