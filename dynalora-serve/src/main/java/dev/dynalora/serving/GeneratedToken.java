package dev.dynalora.serving;

import dev.dynalora.generation.TopLogprobs;

/** A generated token as a request with logprobs hears of it: its id, its logprob and the most likely ones. */
record GeneratedToken(int id, float logprob, TopLogprobs top) {
}
