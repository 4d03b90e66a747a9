package dev.dynalora.generation;

import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.models.CausalLm;
import dev.dynalora.models.DecodingCache;
import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.dynalora.generation.GenerationFixtures.sharedModel;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * DecodingSequence, stepped by hand over forwardCached (as the server's scheduler steps it), makes the same
 * choices as the Generator: tokens, text, finish reason and logprobs, greedy and sampled, with stop strings.
 */
class DecodingSequenceTest {
    @Test
    void stepsAsTheGeneratorDoes() {
        GeneratorTest.Loaded l = GeneratorTest.load(sharedModel("stories260K"));
        CausalLm m = l.model();
        List<String> texts = List.of("Once upon a time", "The dog", "Lily was");
        List<GenerationConfig> configs = List.of(
                GenerationConfig.greedy(40).withLogprobs(3),
                GenerationConfig.greedy(60).withStop(List.of(".", "said")),
                new GenerationConfig(50, 0.9f, 20, 0.9f, 42L, List.of("!"), 2, false),
                new GenerationConfig(30, 1.2f, 0, 1f, 7L, List.of(), 0, false));
        try (CpuKernels k = new CpuKernels(2)) {
            Generator g = new Generator(m, k, l.tok());
            for (GenerationConfig c : configs) {
                List<int[]> prompts = texts.stream().map(t -> l.tok().encode(t)).toList();
                List<Completion> want = g.generate(prompts, c, 2, null);
                for (int i = 0; i < prompts.size(); i++) {
                    DecodingSequence s = new DecodingSequence(m, l.tok(), prompts.get(i), c, i);
                    DecodingCache cache = m.newDecodingCache(1, m.maxPositions());
                    StringBuilder streamed = new StringBuilder();
                    float[] logits = m.forwardCached(k, cache, new int[] {0}, new int[][] {prompts.get(i)});
                    streamed.append(s.accept(logits, 0));
                    while (s.finishReason() == null) {
                        logits = m.forwardCached(k, cache, new int[] {0}, new int[][] {{s.last()}});
                        streamed.append(s.accept(logits, 0));
                    }
                    Completion got = s.completion();
                    Completion w = want.get(i);
                    assertArrayEquals(w.completionIds(), got.completionIds(), c + " prompt " + i);
                    assertEquals(w.text(), got.text());
                    assertEquals(w.text(), streamed.toString());
                    assertEquals(w.finishReason(), got.finishReason());
                    assertEquals(w.topLogprobs().size(), got.topLogprobs().size());
                    for (int t = 0; t < w.topLogprobs().size(); t++) {
                        assertArrayEquals(w.topLogprobs().get(t).ids(), got.topLogprobs().get(t).ids());
                        assertArrayEquals(w.topLogprobs().get(t).logprobs(), got.topLogprobs().get(t).logprobs());
                    }
                }
            }
        }
        l.tok().close();
    }
}
