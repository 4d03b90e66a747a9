package dev.dynalora.serving;

import dev.dynalora.UserInputException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The adapters a server answers for, by name: each registered with its folder, and at most
 * {@code maxLoaded} of them in memory at a time, least recently used out first (never one a running sequence
 * uses). A registered adapter that was evicted is read again from its folder when a request names it.
 * Thread-safe: HTTP threads register, list and unregister; the scheduler thread acquires and releases.
 */
final class AdapterRegistry {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}");

    private final AdapterLoader loader;
    private final String baseName;
    private final int maxLoaded;
    private final Path root; // null: load_lora_adapter is off
    /** Registered adapters by name, in registration order. */
    private final Map<String, Path> registered = new LinkedHashMap<>();
    /** Loaded adapters, least recently used first. */
    private final LinkedHashMap<String, ServedAdapter> loaded = new LinkedHashMap<>(16, 0.75f, true);

    AdapterRegistry(AdapterLoader loader, String baseName, int maxLoaded, Path root) {
        if (maxLoaded < 1) {
            throw new UserInputException("--max-loaded-adapters must be at least 1, got " + maxLoaded);
        }
        this.loader = loader;
        this.baseName = baseName;
        this.maxLoaded = maxLoaded;
        this.root = root;
    }

    /** Names taken by other models of the server (its classifiers), refused to adapters loaded at run time. */
    private volatile java.util.Set<String> reserved = java.util.Set.of();

    /** Reserves the names of the server's other models (its classifiers) against adapters loaded at run time. */
    void reserve(java.util.Set<String> names) {
        reserved = java.util.Set.copyOf(names);
    }

    static void checkName(String name, String baseName, String param) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw ApiException.badRequest(param + " must be 1 to 128 letters, digits or ._:/@+- starting with a letter or"
                    + " digit, got " + (name == null ? "nothing" : "\"" + name + "\""), param);
        }
        if (name.equals(baseName)) {
            throw ApiException.badRequest(param + " \"" + name + "\" is the base model's name", param);
        }
    }

    /** Registers and loads an adapter given on the command line (--adapter NAME=DIR). */
    void registerAtStart(String name, Path dir) {
        try {
            checkName(name, baseName, "--adapter NAME");
        } catch (ApiException e) {
            throw new UserInputException(e.getMessage());
        }
        ServedAdapter a = loader.load(name, dir);
        synchronized (this) {
            if (registered.containsKey(name)) {
                throw new UserInputException("--adapter " + name + " is given twice");
            }
            registered.put(name, dir);
            if (loaded.size() < maxLoaded) {
                loaded.put(name, a);
            }
        }
    }

    /**
     * POST /v1/load_lora_adapter: checks that {@code path} lies under the adapter root (no .. escape, no
     * symbolic link out), reads the folder strictly, and registers it.
     */
    void registerAtRunTime(String name, String path) {
        if (root == null) {
            throw new ApiException(403, "permission_error", "loading adapters at run time is off; start the server with"
                    + " --adapter-root DIR to allow loading adapters from folders under DIR", null, "adapter_loading_disabled");
        }
        checkName(name, baseName, "lora_name");
        if (reserved.contains(name)) {
            throw ApiException.badRequest("lora_name \"" + name + "\" is the name of a served classifier", "lora_name");
        }
        if (path == null || path.isEmpty()) {
            throw ApiException.badRequest("lora_path is required: an adapter folder under the adapter root", "lora_path");
        }
        synchronized (this) {
            if (registered.containsKey(name)) {
                throw ApiException.badRequest("an adapter named \"" + name + "\" is already loaded; unload it first", "lora_name");
            }
        }
        Path dir = insideRoot(path);
        ServedAdapter a;
        try {
            a = loader.load(name, dir);
        } catch (UserInputException e) {
            throw ApiException.badRequest("lora_path " + path + ": " + relative(e.getMessage()), "lora_path");
        }
        synchronized (this) {
            if (registered.containsKey(name)) {
                throw ApiException.badRequest("an adapter named \"" + name + "\" is already loaded; unload it first", "lora_name");
            }
            registered.put(name, dir);
            evictFor(1);
            if (loaded.size() < maxLoaded) {
                loaded.put(name, a);
            }
        }
    }

    /** The folder's messages name absolute paths; a client sees them relative to the adapter root. */
    private String relative(String message) {
        return message.replace(root.toString() + "/", "");
    }

    /** The real folder for a requested path, or 403 when it is (or leads) outside the root. */
    private Path insideRoot(String path) {
        Path p;
        try {
            p = root.resolve(path).normalize();
        } catch (RuntimeException e) {
            throw ApiException.badRequest("lora_path is not a valid path: " + path, "lora_path");
        }
        if (!p.startsWith(root) || path.contains("\0")) {
            throw forbidden(path);
        }
        if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS) && !Files.exists(p)) {
            throw ApiException.badRequest("lora_path " + path + " does not exist under the adapter root", "lora_path");
        }
        Path real;
        try {
            real = p.toRealPath();
        } catch (IOException e) {
            throw ApiException.badRequest("lora_path " + path + " cannot be read: " + e.getClass().getSimpleName(), "lora_path");
        }
        if (!real.startsWith(root)) {
            throw forbidden(path);
        }
        if (!Files.isDirectory(real)) {
            throw ApiException.badRequest("lora_path " + path + " is not a folder", "lora_path");
        }
        // The files read from it must not lead out either.
        try (var files = Files.list(real)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                if (Files.isSymbolicLink(f) && !f.toRealPath().startsWith(root)) {
                    throw forbidden(path + "/" + f.getFileName());
                }
            }
        } catch (IOException e) {
            throw ApiException.badRequest("lora_path " + path + " cannot be listed: " + e.getClass().getSimpleName(), "lora_path");
        }
        return real;
    }

    private static ApiException forbidden(String path) {
        return new ApiException(403, "permission_error", "lora_path " + path + " is outside the adapter root", "lora_path",
                "path_outside_adapter_root");
    }

    /** POST /v1/unload_lora_adapter. Sequences already running with it finish with it. */
    synchronized void unregister(String name) {
        if (name == null || !registered.containsKey(name)) {
            throw ApiException.notFound("no adapter named " + (name == null ? "(none given)" : "\"" + name + "\"") + " is loaded",
                    "lora_name", "adapter_not_found");
        }
        registered.remove(name);
        loaded.remove(name);
    }

    synchronized boolean has(String name) {
        return registered.containsKey(name);
    }

    synchronized List<String> names() {
        return new ArrayList<>(registered.keySet());
    }

    synchronized int loadedCount() {
        return loaded.size();
    }

    /**
     * For the scheduler: the adapter, loaded (from its folder if it was evicted) and marked in use; null when
     * every loaded adapter is in use and none can make room (the request waits).
     *
     * @throws ApiException 404 if it was unloaded meanwhile, 500 if its folder can no longer be read
     */
    ServedAdapter acquire(String name) {
        Path dir;
        synchronized (this) {
            ServedAdapter a = loaded.get(name);
            if (a != null) {
                a.inUse++;
                return a;
            }
            dir = registered.get(name);
            if (dir == null) {
                throw ApiException.notFound("the adapter \"" + name + "\" was unloaded", "model", "model_not_found");
            }
            if (!evictFor(1)) {
                return null;
            }
        }
        ServedAdapter a;
        try {
            a = loader.load(name, dir);
        } catch (UserInputException e) {
            throw new ApiException(500, "server_error", "the adapter \"" + name + "\" could not be read again: " + e.getMessage(),
                    "model", null);
        }
        synchronized (this) {
            if (registered.get(name) == dir && loaded.size() < maxLoaded) {
                loaded.put(name, a);
            }
            a.inUse++;
            return a;
        }
    }

    /** The scheduler is done with it for one sequence. */
    synchronized void release(ServedAdapter a) {
        a.inUse--;
    }

    /** Makes room for n more loaded adapters by evicting unused ones, least recently used first. */
    private boolean evictFor(int n) {
        var it = loaded.values().iterator();
        while (loaded.size() + n > maxLoaded && it.hasNext()) {
            if (it.next().inUse == 0) {
                it.remove();
            }
        }
        return loaded.size() + n <= maxLoaded;
    }
}
