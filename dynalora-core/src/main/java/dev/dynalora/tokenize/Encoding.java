package dev.dynalora.tokenize;

import java.util.Arrays;

/**
 * One tokenized text (or text pair), unpadded: token ids, token type (segment) ids and the attention mask,
 * all of the same length. Immutable: the accessors return copies. Padding to a batch length is the batcher's
 * job, with {@link TextTokenizer#padId()}.
 */
public final class Encoding {
    private final int[] ids;
    private final int[] typeIds;
    private final int[] attentionMask;
    private final boolean truncated;

    public Encoding(int[] ids, int[] typeIds, int[] attentionMask, boolean truncated) {
        if (ids.length != typeIds.length || ids.length != attentionMask.length) {
            throw new IllegalArgumentException("ids, typeIds and attentionMask differ in length: " + ids.length
                    + ", " + typeIds.length + ", " + attentionMask.length);
        }
        this.ids = ids.clone();
        this.typeIds = typeIds.clone();
        this.attentionMask = attentionMask.clone();
        this.truncated = truncated;
    }

    public int[] ids() {
        return ids.clone();
    }

    /** 0 for the first text (and its special tokens), 1 for the second of a pair (BERT segment ids). */
    public int[] typeIds() {
        return typeIds.clone();
    }

    /** 1 for every token: an Encoding is never padded. Provided so batchers can copy it next to the ids. */
    public int[] attentionMask() {
        return attentionMask.clone();
    }

    /** Whether tokens were cut off to fit the tokenizer's max length. */
    public boolean truncated() {
        return truncated;
    }

    public int length() {
        return ids.length;
    }

    /** The id at position i, without copying the array. */
    public int id(int i) {
        return ids[i];
    }

    /** The type id at position i, without copying the array. */
    public int typeId(int i) {
        return typeIds[i];
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof Encoding)) {
            return false;
        }
        Encoding e = (Encoding) o;
        return truncated == e.truncated && Arrays.equals(ids, e.ids) && Arrays.equals(typeIds, e.typeIds)
                && Arrays.equals(attentionMask, e.attentionMask);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Arrays.hashCode(ids) + Arrays.hashCode(typeIds)) + Arrays.hashCode(attentionMask)
                + (truncated ? 1 : 0);
    }

    @Override
    public String toString() {
        return "Encoding[ids=" + Arrays.toString(ids) + ", typeIds=" + Arrays.toString(typeIds)
                + (truncated ? ", truncated" : "") + "]";
    }
}
