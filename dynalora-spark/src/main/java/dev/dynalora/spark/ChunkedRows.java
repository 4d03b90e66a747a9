package dev.dynalora.spark;

import java.util.Collections;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.function.Function;

/**
 * A partition's output produced lazily, one chunk at a time: when the rows of the last chunk are used up and input
 * remains, {@code nextChunk} reads the next chunk from the input and computes its rows. A partition is thus never
 * held whole in memory, and Spark can stream the rows on as they come.
 */
final class ChunkedRows<I, O> implements Iterator<O> {
    private final Iterator<I> input;
    private final Function<Iterator<I>, Iterator<O>> nextChunk;
    private Iterator<O> ready = Collections.emptyIterator();

    ChunkedRows(Iterator<I> input, Function<Iterator<I>, Iterator<O>> nextChunk) {
        this.input = input;
        this.nextChunk = nextChunk;
    }

    @Override
    public boolean hasNext() {
        while (!ready.hasNext() && input.hasNext()) {
            ready = nextChunk.apply(input);
        }
        return ready.hasNext();
    }

    @Override
    public O next() {
        if (!hasNext()) {
            throw new NoSuchElementException();
        }
        return ready.next();
    }
}
