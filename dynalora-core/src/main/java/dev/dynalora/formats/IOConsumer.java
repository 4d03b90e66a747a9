package dev.dynalora.formats;

import java.io.IOException;

/**
 * A consumer that may throw {@link IOException}: the body of {@link AtomicFiles#writeAtomically}. A plain
 * {@code java.util.function.Consumer} cannot, which would force every writer to wrap its I/O errors itself.
 */
@FunctionalInterface
public interface IOConsumer<T> {
    void accept(T value) throws IOException;
}
