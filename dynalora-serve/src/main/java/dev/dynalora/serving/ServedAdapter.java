package dev.dynalora.serving;

import dev.dynalora.adapters.LinearAdapter;

import java.nio.file.Path;

/**
 * One adapter loaded for serving: for each of the base model's linear modules (in {@code linearModules()}
 * order) the adapter that module applies for this adapter's rows, or null where it adds nothing. Its
 * {@link LinearAdapter}s hold buffers of their last forward pass, so only the scheduler thread runs them.
 */
final class ServedAdapter {
    final String name;
    final Path dir;
    final LinearAdapter[] modules;
    /** Sequences in flight that use it (scheduler thread only): an adapter in use is never evicted. */
    int inUse;

    ServedAdapter(String name, Path dir, LinearAdapter[] modules) {
        this.name = name;
        this.dir = dir;
        this.modules = modules;
    }
}
