package dev.dynalora.data;

import java.util.List;

/**
 * Token sequences of one batch padded on the right to the longest among them (dynamic padding), flattened to
 * [batch * seqLen] as the models consume them, with the attention mask (1 real token, 0 padding).
 */
public record PaddedBatch(int batch, int seqLen, int[] ids, int[] typeIds, int[] attentionMask) {

    public static PaddedBatch of(List<int[]> ids, List<int[]> typeIds, int padId) {
        int b = ids.size();
        int t = 1;
        for (int[] s : ids) {
            t = Math.max(t, s.length);
        }
        int[] flatIds = new int[b * t];
        int[] flatTypes = new int[b * t];
        int[] mask = new int[b * t];
        java.util.Arrays.fill(flatIds, padId);
        for (int e = 0; e < b; e++) {
            int[] s = ids.get(e);
            int[] ty = typeIds == null ? null : typeIds.get(e);
            for (int i = 0; i < s.length; i++) {
                flatIds[e * t + i] = s[i];
                flatTypes[e * t + i] = ty == null ? 0 : ty[i];
                mask[e * t + i] = 1;
            }
        }
        return new PaddedBatch(b, t, flatIds, flatTypes, mask);
    }

    /** Examples [from, to) of this batch, with its seqLen (one shard of it, padded as the whole batch is). */
    public PaddedBatch rows(int from, int to) {
        if (from < 0 || to > batch || from > to) {
            throw new IllegalArgumentException("rows [" + from + ", " + to + ") of a batch of " + batch);
        }
        if (from == 0 && to == batch) {
            return this;
        }
        int a = from * seqLen;
        int e = to * seqLen;
        return new PaddedBatch(to - from, seqLen, java.util.Arrays.copyOfRange(ids, a, e),
                java.util.Arrays.copyOfRange(typeIds, a, e), java.util.Arrays.copyOfRange(attentionMask, a, e));
    }
}
