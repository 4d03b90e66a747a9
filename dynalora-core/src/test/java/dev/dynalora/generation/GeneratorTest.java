package dev.dynalora.generation;

import dev.dynalora.UserInputException;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.llama.LlamaForCausalLM;
import dev.dynalora.models.llama.PretrainedLlama;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static dev.dynalora.generation.GenerationFixtures.fullForwardGreedy;
import static dev.dynalora.generation.GenerationFixtures.sharedModel;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Generation with the KV cache against decoding with a full forward pass per token, on the real stories260K
 * (grouped-query attention) and stories15M checkpoints; batching, sampling, stop conditions and the context
 * limit. Skipped when ../shared is not there.
 */
class GeneratorTest {
    static final String[] PROMPTS_260K = {"Once upon a time", "The dog", "Lily and Tom went to the park. They saw a big",
            "One day, a little girl named Sue"};
    static CpuKernels k;

    @BeforeAll
    static void setUp() {
        k = new CpuKernels(2);
    }

    @AfterAll
    static void tearDown() {
        k.close();
    }

    record Loaded(LlamaForCausalLM model, PromptTokenizer tok) {
        List<int[]> encode(String... prompts) {
            List<int[]> l = new ArrayList<>();
            for (String p : prompts) {
                l.add(tok.encode(p));
            }
            return l;
        }
    }

    static Loaded load(Path dir) {
        LlamaForCausalLM m = PretrainedLlama.load(dir);
        return new Loaded(m, PromptTokenizer.load(dir, m.bosTokenId()));
    }

    /**
     * Every prompt's cached greedy ids equal the full-forward decode's, and the top-5 logprobs of every step
     * equal the full forward's log-softmax within tol.
     */
    static void assertMatchesFullForward(Loaded l, List<int[]> prompts, int n, CpuKernels kern, double tol) {
        GenerationConfig cfg = GenerationConfig.greedy(n).withLogprobs(5).withIgnoreEos(true);
        List<Completion> got = new Generator(l.model(), kern, l.tok()).generate(prompts, cfg, 8, null);
        for (int p = 0; p < prompts.size(); p++) {
            GenerationFixtures.Reference ref = fullForwardGreedy(kern, l.model(), prompts.get(p), n);
            Completion c = got.get(p);
            assertArrayEquals(ref.ids(), c.completionIds(), "prompt " + p);
            assertEquals(FinishReason.LENGTH, c.finishReason());
            assertEquals(n, c.topLogprobs().size());
            for (int s = 0; s < n; s++) {
                TopLogprobs t = c.topLogprobs().get(s);
                assertEquals(5, t.size());
                assertEquals(ref.ids()[s], t.ids()[0], "the greedy token is the most likely one");
                for (int i = 0; i < t.size(); i++) {
                    assertEquals(ref.logSoftmax()[s][t.ids()[i]], t.logprobs()[i], tol, "prompt " + p + " step " + s);
                    if (i > 0) {
                        assertTrue(t.logprobs()[i] <= t.logprobs()[i - 1]);
                    }
                }
                // Nothing outside the reported five is more likely than the fifth.
                double fifth = ref.logSoftmax()[s][t.ids()[4]];
                for (int id = 0; id < ref.logSoftmax()[s].length; id++) {
                    int fid = id;
                    if (Arrays.stream(t.ids()).noneMatch(x -> x == fid)) {
                        assertTrue(ref.logSoftmax()[s][id] <= fifth + 1e-6);
                    }
                }
            }
        }
    }

    /**
     * With every product through the blocked GEMM (whose result for an element does not depend on how many
     * rows the product has), the cached decode computes exactly the full forward pass's function: the same
     * ids, and logprobs equal to the full forward's log-softmax within 1e-5 (in fact to float rounding of
     * the log-softmax itself). With the default kernels, decode steps take the dot-product path, whose sums
     * run in another order: the same ids, logprobs within 5e-5 (float noise through five or six layers; the
     * forward agrees with PyTorch to 2e-5 in the logits).
     */
    @Test
    void stories260kGreedyAndLogprobsMatchFullForward() {
        Loaded l = load(sharedModel("stories260K"));
        try (CpuKernels gemmOnly = new CpuKernels(2, 0)) {
            assertMatchesFullForward(l, l.encode(PROMPTS_260K), 40, gemmOnly, 1e-5);
        }
        assertMatchesFullForward(l, l.encode(PROMPTS_260K), 40, k, 5e-5);
        l.tok().close();
    }

    @Test
    void stories15mGreedyAndLogprobsMatchFullForward() {
        Loaded l = load(sharedModel("stories15M"));
        List<int[]> prompts = l.encode("Once upon a time", "Tom had a red ball. He", "The sun");
        try (CpuKernels gemmOnly = new CpuKernels(2, 0)) {
            assertMatchesFullForward(l, prompts, 20, gemmOnly, 1e-5);
        }
        assertMatchesFullForward(l, prompts, 20, k, 5e-5);
        l.tok().close();
    }

    /** The whole greedy story of stories15M as text, streamed: the README's ", there was a little girl named Lily". */
    @Test
    void stories15mStreamsItsStory() {
        Loaded l = load(sharedModel("stories15M"));
        StringBuilder streamed = new StringBuilder();
        Generator.Listener listener = new Generator.Listener() {
            @Override
            public void onText(int index, String text) {
                streamed.append(text);
            }
        };
        List<int[]> prompt = l.encode("Once upon a time");
        assertEquals(1, prompt.get(0)[0], "BOS leads the prompt (add_bos_token)");
        Completion c = new Generator(l.model(), k, l.tok()).generate(prompt, GenerationConfig.greedy(60), 1, listener).get(0);
        assertTrue(c.text().startsWith(", there was a little girl named Lily. She loved to play outside"), c.text());
        assertEquals(c.text(), streamed.toString());
        int[] all = concat(c.promptIds(), c.completionIds());
        assertEquals(l.tok().decode(all), "Once upon a time" + c.text());
        l.tok().close();
    }

    static int[] concat(int[] a, int[] b) {
        int[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }

    /**
     * Prompts of different lengths, three in flight at once (so finished ones are replaced mid-run), give
     * bit for bit what each gives alone: ids, logprobs and, with sampling, the samples.
     */
    @Test
    void batchedPromptsEqualOneByOne() {
        Loaded l = load(sharedModel("stories260K"));
        List<int[]> prompts = l.encode("Once upon a time", "The", "Lily and Tom went to the park. They saw a big dog and",
                "A cat", "Sam was sad because his toy was broken. His mom");
        for (GenerationConfig cfg : new GenerationConfig[] {
                GenerationConfig.greedy(30).withLogprobs(3),
                GenerationConfig.greedy(25).withSampling(0.9f, 20, 0.9f, 123).withLogprobs(2)}) {
            Generator g = new Generator(l.model(), k, l.tok());
            List<Completion> batched = g.generate(prompts, cfg, 3, null);
            List<Completion> oneAtATime = g.generate(prompts, cfg, 1, null);
            for (int p = 0; p < prompts.size(); p++) {
                // A prompt's samples are drawn from a generator seeded by the seed and its index in the list.
                Completion alone = cfg.sampling() ? oneAtATime.get(p) : g.generate(List.of(prompts.get(p)), cfg, 1, null).get(0);
                Completion b = batched.get(p);
                assertEquals(p, b.index());
                assertArrayEquals(alone.completionIds(), b.completionIds(), "prompt " + p);
                assertEquals(alone.text(), b.text());
                assertEquals(alone.finishReason(), b.finishReason());
                for (int s = 0; s < alone.topLogprobs().size(); s++) {
                    assertArrayEquals(alone.topLogprobs().get(s).logprobs(), b.topLogprobs().get(s).logprobs());
                }
            }
        }
        l.tok().close();
    }

    @Test
    void samplingIsDeterministicPerSeedAndKeepsToTopKAndTopP() {
        Loaded l = load(sharedModel("stories260K"));
        int vocab = l.model().config().vocabSize();
        List<int[]> prompts = l.encode("Once upon a time", "The dog");
        Generator g = new Generator(l.model(), k, l.tok());
        GenerationConfig base = GenerationConfig.greedy(40).withIgnoreEos(true);
        GenerationConfig s1 = base.withSampling(1f, 0, 1f, 1);
        List<Completion> a = g.generate(prompts, s1, 2, null);
        List<Completion> b = g.generate(prompts, s1, 2, null);
        List<Completion> c = g.generate(prompts, base.withSampling(1f, 0, 1f, 2), 2, null);
        List<Completion> greedy = g.generate(prompts, base, 2, null);
        for (int p = 0; p < 2; p++) {
            assertArrayEquals(a.get(p).completionIds(), b.get(p).completionIds(), "same seed, same samples");
            assertFalse(Arrays.equals(a.get(p).completionIds(), c.get(p).completionIds()), "another seed, other samples");
            assertFalse(Arrays.equals(a.get(p).completionIds(), greedy.get(p).completionIds()), "sampling is not greedy");
        }
        assertFalse(Arrays.equals(a.get(0).completionIds(), a.get(1).completionIds()));

        // Top-k: every sampled token is among the k most likely (the reported top-k logprobs).
        int topK = 3;
        for (Completion comp : g.generate(prompts, base.withSampling(1.5f, topK, 1f, 7).withLogprobs(topK), 2, null)) {
            for (int s = 0; s < comp.completionIds().length; s++) {
                int id = comp.completionIds()[s];
                assertTrue(Arrays.stream(comp.topLogprobs().get(s).ids()).anyMatch(x -> x == id), "step " + s);
            }
        }
        // Top-p: every sampled token lies in the nucleus of softmax(logits / T), computed from all logprobs.
        float t = 0.8f;
        float topP = 0.6f;
        int outside = 0;
        for (Completion comp : g.generate(prompts, base.withSampling(t, 0, topP, 11).withLogprobs(vocab), 2, null)) {
            for (int s = 0; s < comp.completionIds().length; s++) {
                TopLogprobs lp = comp.topLogprobs().get(s);
                double[] w = new double[vocab];
                double sum = 0;
                for (int i = 0; i < vocab; i++) {
                    w[i] = Math.exp(lp.logprobs()[i] / t);
                    sum += w[i];
                }
                double cum = 0;
                boolean inside = false;
                for (int i = 0; i < vocab && (i == 0 || cum < topP); i++) {
                    inside |= lp.ids()[i] == comp.completionIds()[s];
                    cum += w[i] / sum;
                }
                if (!inside) {
                    outside++;
                }
            }
        }
        assertEquals(0, outside, "tokens sampled outside the top-p nucleus");
        l.tok().close();
    }

    /** A slice generated with the index of its first prompt samples each prompt as the whole list does. */
    @Test
    void aSliceWithItsFirstIndexSamplesAsTheWholeList() {
        Loaded l = load(sharedModel("stories260K"));
        List<int[]> prompts = l.encode("Once upon a time", "The dog", "Lily", "Tom and Sue", "The sun");
        Generator g = new Generator(l.model(), k, l.tok());
        GenerationConfig cfg = GenerationConfig.greedy(24).withIgnoreEos(true).withSampling(1f, 0, 1f, 5);
        List<Completion> whole = g.generate(prompts, cfg, 2, null);
        List<Completion> tail = g.generate(prompts.subList(2, 5), 2, cfg, 3, null);
        List<Completion> tailFromZero = g.generate(prompts.subList(2, 5), cfg, 3, null);
        for (int i = 0; i < 3; i++) {
            assertEquals(i, tail.get(i).index(), "completions keep their index in the slice");
            assertArrayEquals(whole.get(i + 2).completionIds(), tail.get(i).completionIds(), "prompt " + (i + 2));
        }
        assertFalse(Arrays.equals(whole.get(2).completionIds(), tailFromZero.get(0).completionIds()),
                "without the offset the slice's first prompt is seeded as prompt 0");
        l.tok().close();
    }

    @Test
    void stopStringCutsTheCompletionAndIsNeverStreamed() {
        Loaded l = load(sharedModel("stories260K"));
        Generator g = new Generator(l.model(), k, l.tok());
        List<int[]> prompt = l.encode("Once upon a time");
        Completion free = g.generate(prompt, GenerationConfig.greedy(80).withIgnoreEos(true), 1, null).get(0);
        String text = free.text();
        // A stop string from the middle of the free completion, spanning a word boundary.
        int at = text.indexOf(' ', text.length() / 2);
        String stop = text.substring(at - 2, at + 3);
        int first = text.indexOf(stop);
        StringBuilder streamed = new StringBuilder();
        Generator.Listener listener = new Generator.Listener() {
            @Override
            public void onText(int index, String t) {
                streamed.append(t);
            }
        };
        Completion c = g.generate(prompt, GenerationConfig.greedy(80).withIgnoreEos(true)
                .withStop(List.of("never appears", stop)), 1, listener).get(0);
        assertEquals(FinishReason.STOP, c.finishReason());
        assertEquals(text.substring(0, first), c.text());
        assertEquals(c.text(), streamed.toString());
        int n = c.completionIds().length;
        assertTrue(n < free.completionIds().length);
        assertArrayEquals(Arrays.copyOf(free.completionIds(), n), c.completionIds());
        // The completion ends with the token that completed the stop string, not later.
        String upToLast = l.tok().decode(concat(c.promptIds(), c.completionIds()));
        String beforeLast = l.tok().decode(concat(c.promptIds(), Arrays.copyOf(c.completionIds(), n - 1)));
        assertTrue(upToLast.contains(stop) && !beforeLast.contains(stop));
        l.tok().close();
    }

    /** A model whose end-of-sequence id is a token the greedy completion produces: generation stops there. */
    @Test
    void stopsAtEndOfSequence(@TempDir Path dir) throws Exception {
        Path src = sharedModel("stories260K");
        Loaded l = load(src);
        List<int[]> prompt = l.encode("Once upon a time");
        int[] free = new Generator(l.model(), k, l.tok()).generate(prompt, GenerationConfig.greedy(30), 1, null)
                .get(0).completionIds();
        l.tok().close();
        int j = 4;
        while (contains(Arrays.copyOf(free, j), free[j])) {
            j++;
        }
        int eos = free[j];
        Loaded m = load(GenerationFixtures.withConfig(src, dir, Map.of("eos_token_id", List.of(99999 % 500, eos))));
        Completion c = new Generator(m.model(), k, m.tok()).generate(prompt, GenerationConfig.greedy(30), 1, null).get(0);
        assertEquals(FinishReason.STOP, c.finishReason());
        assertArrayEquals(Arrays.copyOf(free, j + 1), c.completionIds(), "ends with the EOS token");
        Completion past = new Generator(m.model(), k, m.tok())
                .generate(prompt, GenerationConfig.greedy(30).withIgnoreEos(true), 1, null).get(0);
        assertArrayEquals(free, past.completionIds());
        m.tok().close();
    }

    static boolean contains(int[] a, int v) {
        return Arrays.stream(a).anyMatch(x -> x == v);
    }

    @Test
    void theContextLimitEndsWithLengthAndLongerPromptsAreRefused(@TempDir Path dir) throws Exception {
        Loaded l = load(GenerationFixtures.withConfig(sharedModel("stories260K"), dir, Map.of("max_position_embeddings", 24)));
        Generator g = new Generator(l.model(), k, l.tok());
        int[] prompt = l.tok().encode("Once upon a time, there was a little girl");
        assertTrue(prompt.length < 24);
        Completion c = g.generate(List.of(prompt), GenerationConfig.greedy(100).withIgnoreEos(true), 1, null).get(0);
        assertEquals(FinishReason.LENGTH, c.finishReason());
        assertEquals(24, prompt.length + c.completionIds().length);
        // A prompt that fills the context exactly: nothing fits after it.
        int[] full = new int[24];
        Arrays.fill(full, 300);
        full[0] = 1;
        Completion none = g.generate(List.of(full), GenerationConfig.greedy(5), 1, null).get(0);
        assertEquals(FinishReason.LENGTH, none.finishReason());
        assertEquals(0, none.completionIds().length);
        assertEquals("", none.text());
        UserInputException e = assertThrows(UserInputException.class,
                () -> g.generate(List.of(prompt, Arrays.copyOf(full, 25)), GenerationConfig.greedy(5), 1, null));
        assertTrue(e.getMessage().contains("prompt 2 has 25 tokens") && e.getMessage().contains("24"), e.getMessage());
        l.tok().close();
    }

    /** LoRA adapters on the projections apply in the cached path exactly as in the full forward pass. */
    @Test
    void attachedAdaptersApplyWithTheCache() {
        Loaded l = load(sharedModel("stories260K"));
        List<int[]> prompts = l.encode("Once upon a time", "The dog");
        Generator g = new Generator(l.model(), k, l.tok());
        Completion plain = g.generate(prompts.subList(0, 1), GenerationConfig.greedy(30).withIgnoreEos(true), 1, null).get(0);
        SplittableRandom r = new SplittableRandom(3);
        for (LinearModule m : l.model().linearModules()) {
            if (m.shortName().equals("q_proj") || m.shortName().equals("v_proj") || m.shortName().equals("down_proj")) {
                int rank = 4;
                float[] a = new float[rank * m.in()];
                float[] b = new float[m.out() * rank];
                for (int i = 0; i < a.length; i++) {
                    a[i] = (float) r.nextDouble(-0.5, 0.5);
                }
                for (int i = 0; i < b.length; i++) {
                    b[i] = (float) r.nextDouble(-0.5, 0.5);
                }
                m.setAdapter(new LoraAdapter(m.name(), m.in(), m.out(), 2f, a, b, false));
            }
        }
        try (CpuKernels gemmOnly = new CpuKernels(2, 0)) {
            assertMatchesFullForward(l, prompts, 30, gemmOnly, 1e-5);
        }
        Completion adapted = g.generate(prompts.subList(0, 1), GenerationConfig.greedy(30).withIgnoreEos(true), 1, null).get(0);
        assertFalse(Arrays.equals(plain.completionIds(), adapted.completionIds()), "the adapters change the completion");
        l.tok().close();
    }

    @Test
    void aGatePerExampleIsRefused() {
        Loaded l = load(sharedModel("stories260K"));
        LinearModule q = l.model().linearModules().get(0);
        q.setAdapter(new LoraAdapter(q.name(), q.in(), q.out(), 4, 8f, false, false, true, 1));
        UserInputException e = assertThrows(UserInputException.class, () -> new Generator(l.model(), k, l.tok()));
        assertTrue(e.getMessage().contains(q.name()), e.getMessage());
        l.tok().close();
    }

    /**
     * Dynamic LoRA as a decoder trains it (MethodSetup: a gate per token, masked components) generates in the
     * cached path exactly what the full forward pass computes: the per-token gate needs no look at other tokens.
     */
    @Test
    void aDynamicLoraDecoderWithPerTokenGatesGeneratesAsTheFullForward() {
        Loaded l = load(sharedModel("stories260K"));
        List<int[]> prompts = l.encode("Once upon a time", "The dog");
        dev.dynalora.training.MethodSetup.apply(l.model(), dev.dynalora.training.Method.DYNAMIC,
                dev.dynalora.adapters.LoraConfig.of(4, 8, "q_proj,v_proj,down_proj", false, 0f, 1),
                dev.dynalora.training.AdaptiveOptions.defaults(4));
        SplittableRandom r = new SplittableRandom(4);
        for (LinearModule m : l.model().linearModules()) {
            if (m.adapter() instanceof LoraAdapter a) {
                assertTrue(a.gated() && a.gatePerToken(), m.name());
                for (float[] x : new float[][] {a.loraB().data(), a.gateWeight().data(), a.gateBias().data()}) {
                    for (int i = 0; i < x.length; i++) {
                        x[i] = (float) r.nextDouble(-0.5, 0.5);
                    }
                }
                a.componentMask()[1] = 0f; // a component reallocation switched off
            }
        }
        try (CpuKernels gemmOnly = new CpuKernels(2, 0)) {
            assertMatchesFullForward(l, prompts, 30, gemmOnly, 1e-5);
        }
        l.tok().close();
    }
}
