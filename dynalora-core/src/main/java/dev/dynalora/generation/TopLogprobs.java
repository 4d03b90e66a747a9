package dev.dynalora.generation;

/**
 * The most likely next tokens at one generated position, most likely first, with their log-probabilities:
 * natural logs of the softmax of the full logits at temperature 1 (whatever temperature sampled the token).
 */
public record TopLogprobs(int[] ids, float[] logprobs) {
    public int size() {
        return ids.length;
    }
}
