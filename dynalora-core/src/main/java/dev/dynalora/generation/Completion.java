package dev.dynalora.generation;

import java.util.List;

/**
 * One prompt's result.
 *
 * @param index         the prompt's position in the list given to the generator
 * @param promptIds     the prompt's token ids, as fed to the model
 * @param completionIds every generated token, in order: the end-of-sequence token when it ended the
 *                      completion, and for a stop string the token that completed it
 * @param text          the completion as text, cut before the stop string that ended it (null when the
 *                      generator had no detokenizer)
 * @param topLogprobs   one entry per completion id (empty unless logprobs were asked for)
 */
public record Completion(int index, int[] promptIds, int[] completionIds, String text, FinishReason finishReason,
                         List<TopLogprobs> topLogprobs) {
}
