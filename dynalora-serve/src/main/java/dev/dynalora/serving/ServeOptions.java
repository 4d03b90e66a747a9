package dev.dynalora.serving;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What {@code dynalora serve} was asked for.
 *
 * @param model             the base model's Hugging Face folder (a causal LM or an encoder); null to serve only
 *                          classifiers
 * @param modelName         the name requests use for the base (null: the folder's name)
 * @param adapters          adapters served from the start, by name (--adapter NAME=DIR)
 * @param host              the address to bind (127.0.0.1 unless told otherwise)
 * @param port              0 picks a free port
 * @param threads           compute threads
 * @param apiKey            when not null, every /v1 route requires {@code Authorization: Bearer KEY}
 * @param maxLoadedAdapters adapters held in memory at once (least recently used out first)
 * @param adapterRoot       when not null, POST /v1/load_lora_adapter may load folders under it (off otherwise)
 * @param maxBatch          sequences decoded together at most
 * @param maxQueue          prompts waiting at most; a request that would exceed it is answered 429
 * @param maxRequestBytes   the largest request body (413 beyond)
 * @param classifiers       GLUE run folders served by POST /v1/classify, by name (--classifier NAME=RUN_DIR)
 * @param chatTemplate      a file holding the Jinja chat template for POST /v1/chat/completions (--chat-template),
 *                          instead of the model folder's; null: the model folder's, if any
 */
public record ServeOptions(Path model, String modelName, Map<String, Path> adapters, String host, int port, int threads,
                           String apiKey, int maxLoadedAdapters, Path adapterRoot, int maxBatch, int maxQueue,
                           long maxRequestBytes, Map<String, Path> classifiers, Path chatTemplate) {
    public ServeOptions {
        adapters = new LinkedHashMap<>(adapters);
        classifiers = new LinkedHashMap<>(classifiers == null ? Map.of() : classifiers);
    }

    /** With the model folder's chat template. */
    public ServeOptions(Path model, String modelName, Map<String, Path> adapters, String host, int port, int threads,
                        String apiKey, int maxLoadedAdapters, Path adapterRoot, int maxBatch, int maxQueue,
                        long maxRequestBytes, Map<String, Path> classifiers) {
        this(model, modelName, adapters, host, port, threads, apiKey, maxLoadedAdapters, adapterRoot, maxBatch, maxQueue,
                maxRequestBytes, classifiers, null);
    }

    /** Without classifiers. */
    public ServeOptions(Path model, String modelName, Map<String, Path> adapters, String host, int port, int threads,
                        String apiKey, int maxLoadedAdapters, Path adapterRoot, int maxBatch, int maxQueue,
                        long maxRequestBytes) {
        this(model, modelName, adapters, host, port, threads, apiKey, maxLoadedAdapters, adapterRoot, maxBatch, maxQueue,
                maxRequestBytes, Map.of());
    }

    public ServeOptions withClassifiers(Map<String, Path> c) {
        return new ServeOptions(model, modelName, adapters, host, port, threads, apiKey, maxLoadedAdapters, adapterRoot, maxBatch,
                maxQueue, maxRequestBytes, c, chatTemplate);
    }

    public static ServeOptions defaults(Path model) {
        return new ServeOptions(model, null, Map.of(), "127.0.0.1", 8080, Runtime.getRuntime().availableProcessors(), null,
                64, null, 32, 256, 1 << 20);
    }

    public ServeOptions withAdapters(Map<String, Path> a) {
        return new ServeOptions(model, modelName, a, host, port, threads, apiKey, maxLoadedAdapters, adapterRoot, maxBatch,
                maxQueue, maxRequestBytes, classifiers, chatTemplate);
    }

    public ServeOptions withPort(int p) {
        return new ServeOptions(model, modelName, adapters, host, p, threads, apiKey, maxLoadedAdapters, adapterRoot, maxBatch,
                maxQueue, maxRequestBytes, classifiers, chatTemplate);
    }

    public ServeOptions withThreads(int t) {
        return new ServeOptions(model, modelName, adapters, host, port, t, apiKey, maxLoadedAdapters, adapterRoot, maxBatch,
                maxQueue, maxRequestBytes, classifiers, chatTemplate);
    }

    public ServeOptions withApiKey(String k) {
        return new ServeOptions(model, modelName, adapters, host, port, threads, k, maxLoadedAdapters, adapterRoot, maxBatch,
                maxQueue, maxRequestBytes, classifiers, chatTemplate);
    }

    public ServeOptions withAdapterRoot(Path r) {
        return new ServeOptions(model, modelName, adapters, host, port, threads, apiKey, maxLoadedAdapters, r, maxBatch,
                maxQueue, maxRequestBytes, classifiers, chatTemplate);
    }

    public ServeOptions withLimits(int loaded, int batch, int queue) {
        return new ServeOptions(model, modelName, adapters, host, port, threads, apiKey, loaded, adapterRoot, batch, queue,
                maxRequestBytes, classifiers, chatTemplate);
    }

    public ServeOptions withChatTemplate(Path file) {
        return new ServeOptions(model, modelName, adapters, host, port, threads, apiKey, maxLoadedAdapters, adapterRoot, maxBatch,
                maxQueue, maxRequestBytes, classifiers, file);
    }
}
