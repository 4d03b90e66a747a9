package dev.dynalora.serving;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.UserInputException;
import dev.dynalora.data.Example;
import dev.dynalora.generation.Completion;
import dev.dynalora.generation.Detokenizer;
import dev.dynalora.generation.PromptTokenizer;
import dev.dynalora.generation.TopLogprobs;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.models.AutoModels;
import dev.dynalora.models.CausalLm;
import io.javalin.Javalin;
import io.javalin.compression.CompressionStrategy;
import io.javalin.http.Context;
import io.javalin.http.HttpResponseException;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * {@code dynalora serve}: an OpenAI-compatible HTTP server (Javalin on Jetty) for one decoder base model and
 * any number of LoRA adapters on it, with continuous batching across adapters ({@link Scheduler}).
 *
 * <p>Routes: GET /v1/models, POST /v1/completions and POST /v1/chat/completions (the conversation rendered by the
 * model's {@link ChatTemplate}; both streamed as server-sent events with {@code stream: true}),
 * POST /v1/load_lora_adapter and /v1/unload_lora_adapter (vLLM's names; loading only from folders under
 * --adapter-root), GET /health, GET /metrics (Prometheus). Given an encoder (BERT family) instead, it answers
 * POST /v1/embeddings ({@link EmbeddingService}). With --classifier NAME=RUN_DIR (with or without a base model) it
 * also answers POST /v1/classify for GLUE run folders ({@link ClassifierService}). Every error is OpenAI's JSON
 * error body with the status that fits; a bad request never disturbs the others.
 */
public final class OpenAiServer implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final ServeOptions options;
    private final CausalLm model;
    private final SafeTokenizer tokenizer;
    private final CpuKernels kernels;
    private final AdapterRegistry adapters;
    private final ServerMetrics metrics;
    private final Scheduler scheduler;        // null for an encoder
    private final EmbeddingService embeddings; // null for a decoder
    private final ClassifierService classifiers; // null without --classifier
    private final ChatTemplate chatTemplate;   // null for an encoder or classifiers only
    private final String baseName;
    private final byte[] apiKeyDigest;
    private final long created = System.currentTimeMillis() / 1000;
    private final Javalin app;
    private volatile boolean draining;
    /** Completion handlers running (shutdown waits for them to write their answers). */
    private final java.util.concurrent.atomic.AtomicInteger handlers = new java.util.concurrent.atomic.AtomicInteger();

    private OpenAiServer(ServeOptions o) {
        this.options = o;
        if (o.maxBatch() < 1 || o.maxBatch() > 1024) {
            throw new UserInputException("--max-batch must be between 1 and 1024, got " + o.maxBatch());
        }
        if (o.maxQueue() < 1) {
            throw new UserInputException("--max-queue must be at least 1, got " + o.maxQueue());
        }
        if (o.port() < 0 || o.port() > 65535) {
            throw new UserInputException("--port must be between 0 and 65535, got " + o.port());
        }
        if (o.maxLoadedAdapters() < 1) {
            throw new UserInputException("--max-loaded-adapters must be at least 1, got " + o.maxLoadedAdapters());
        }
        if (o.threads() < 1 || o.threads() > 1024) {
            throw new UserInputException("--threads must be between 1 and 1024, got " + o.threads());
        }
        if (o.apiKey() != null && o.apiKey().isBlank()) {
            throw new UserInputException("the API key must not be empty");
        }
        Path root = null;
        if (o.adapterRoot() != null) {
            if (!Files.isDirectory(o.adapterRoot())) {
                throw new UserInputException("--adapter-root " + o.adapterRoot() + " is not a folder");
            }
            try {
                root = o.adapterRoot().toRealPath();
            } catch (IOException e) {
                throw new UserInputException("--adapter-root " + o.adapterRoot() + " cannot be read: " + e.getMessage());
            }
        }
        if (o.model() == null && o.classifiers().isEmpty()) {
            throw new UserInputException("serve needs --model DIR, --classifier NAME=RUN_DIR, or both");
        }
        if (o.chatTemplate() != null && (o.model() == null || !AutoModels.isCausalLm(o.model()))) {
            throw new UserInputException("--chat-template needs a causal language model (--model DIR, model_type llama):"
                    + " chat completions are generated");
        }
        this.baseName = o.model() == null ? null
                : o.modelName() != null ? o.modelName() : o.model().toAbsolutePath().normalize().getFileName().toString();
        for (String name : o.classifiers().keySet()) {
            if (name.equals(baseName) || o.adapters().containsKey(name)) {
                throw new UserInputException("--classifier " + name + ": the name is taken by the base model or an adapter");
            }
        }
        this.apiKeyDigest = o.apiKey() == null ? null : sha256(o.apiKey());
        if (o.model() == null) {
            // Classifiers only.
            if (!o.adapters().isEmpty() || o.adapterRoot() != null) {
                throw new UserInputException("serving LoRA adapters (--adapter, --adapter-root) needs --model: the base"
                        + " causal language model");
            }
            this.model = null;
            this.tokenizer = null;
            this.adapters = null;
            this.scheduler = null;
            this.metrics = new ServerMetrics(() -> 0, () -> 0);
            this.kernels = new CpuKernels(o.threads());
            this.embeddings = null;
            this.chatTemplate = null;
        } else if (AutoModels.isCausalLm(o.model())) {
            // The template first: a bad --chat-template file is refused before anything heavy is loaded.
            this.chatTemplate = ChatTemplate.load(o.model(), o.chatTemplate());
            this.model = AutoModels.causalLm(o.model());
            this.tokenizer = new SafeTokenizer(PromptTokenizer.load(o.model(), model.bosTokenId()));
            this.adapters = new AdapterRegistry(new AdapterLoader(model), baseName, o.maxLoadedAdapters(), root);
            for (Map.Entry<String, Path> e : o.adapters().entrySet()) {
                adapters.registerAtStart(e.getKey(), e.getValue());
            }
            this.metrics = new ServerMetrics(adapters::loadedCount, () -> adapters.names().size());
            this.kernels = new CpuKernels(o.threads());
            this.scheduler = new Scheduler(model, tokenizer, kernels, adapters, metrics, o.maxBatch(), o.maxQueue());
            this.embeddings = null;
        } else {
            // An encoder: /v1/embeddings only.
            if (!o.adapters().isEmpty() || o.adapterRoot() != null) {
                throw new UserInputException(o.model() + " is an encoder; serving LoRA adapters (--adapter, --adapter-root)"
                        + " needs a causal language model (model_type llama)");
            }
            this.model = null;
            this.tokenizer = null;
            this.adapters = null;
            this.scheduler = null;
            this.metrics = new ServerMetrics(() -> 0, () -> 0);
            this.kernels = new CpuKernels(o.threads());
            this.embeddings = new EmbeddingService(o.model(), kernels);
            this.chatTemplate = null;
        }
        ClassifierService cs = null;
        if (!o.classifiers().isEmpty()) {
            try {
                cs = new ClassifierService(o.classifiers(), kernels);
            } catch (RuntimeException e) {
                closeModel();
                throw e;
            }
        }
        this.classifiers = cs;
        if (adapters != null) {
            adapters.reserve(o.classifiers().keySet());
        }
        this.app = Javalin.create(config -> {
            config.startup.showJavalinBanner = false;
            config.startup.showOldJavalinVersionWarning = false;
            config.http.maxRequestSize = o.maxRequestBytes();
            config.http.compressionStrategy = CompressionStrategy.NONE;
            // A handler thread waits for each request in the queue or running: enough threads for all of them, and
            // some over for /health, /metrics and the requests that are refused at once.
            QueuedThreadPool pool = new QueuedThreadPool(o.maxQueue() + o.maxBatch() + 64, 8);
            pool.setName("dynalora-http");
            config.jetty.threadPool = pool;
            config.routes.before("/v1/*", this::authorize);
            config.routes.get("/health", this::health);
            config.routes.get("/metrics", this::scrape);
            config.routes.get("/v1/models", this::models);
            config.routes.post("/v1/completions", this::completions);
            config.routes.post("/v1/chat/completions", this::chatCompletions);
            config.routes.post("/v1/embeddings", this::embed);
            config.routes.post("/v1/classify", this::classify);
            config.routes.post("/v1/load_lora_adapter", this::loadAdapter);
            config.routes.post("/v1/unload_lora_adapter", this::unloadAdapter);
            config.routes.exception(ApiException.class, (e, ctx) -> error(ctx, e));
            config.routes.exception(HttpResponseException.class, (e, ctx) -> error(ctx, new ApiException(e.getStatus(),
                    e.getStatus() < 500 ? "invalid_request_error" : "server_error", e.getMessage(), null, null)));
            config.routes.exception(Exception.class, (e, ctx) -> {
                System.err.println("dynalora serve: internal error on " + ctx.path() + ": " + e);
                error(ctx, new ApiException(500, "server_error", "internal error", null, null));
            });
            config.routes.error(404, ctx -> {
                if (ctx.result() == null || ctx.result().isEmpty() || !ctx.result().startsWith("{")) {
                    error(ctx, new ApiException(404, "invalid_request_error", "no route " + ctx.method() + " " + ctx.path(),
                            null, "not_found"));
                }
            });
            config.routes.error(405, ctx -> error(ctx, new ApiException(405, "invalid_request_error",
                    "method " + ctx.method() + " not allowed on " + ctx.path(), null, null)));
            config.routes.after(ctx -> metrics.request(routeName(ctx), ctx.statusCode()));
        });
    }

    /** Loads the model and adapters and starts listening; returns once the server answers. */
    public static OpenAiServer start(ServeOptions o) {
        OpenAiServer s = new OpenAiServer(o);
        try {
            s.app.start(o.host(), o.port());
        } catch (RuntimeException e) {
            s.closeModel();
            throw new UserInputException("cannot listen on " + o.host() + ":" + o.port() + ": " + rootMessage(e));
        }
        for (Connector c : s.app.jettyServer().server().getConnectors()) {
            if (c instanceof ServerConnector sc) {
                sc.setIdleTimeout(TimeUnit.MINUTES.toMillis(10)); // long non-streamed completions
            }
        }
        return s;
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null) {
            t = t.getCause();
        }
        return t.getMessage() != null ? t.getMessage() : t.toString();
    }

    public int port() {
        return app.port();
    }

    /** The widest decode step so far and the most adapters one step mixed. */
    int[] batchingSeen() {
        return new int[] {scheduler.widestStep, scheduler.mostAdaptersInStep};
    }

    /** The base model's name; null when the server holds classifiers only. */
    public String baseName() {
        return baseName;
    }

    /**
     * Stops taking requests (503), lets those queued and running finish for up to graceMillis, fails the rest,
     * and closes the listener. Returns whether everything finished in time.
     */
    public boolean shutdown(long graceMillis) {
        draining = true;
        boolean clean = scheduler == null || scheduler.drain(graceMillis);
        // Every request has its answer (or its error) now; let the handlers write them before the listener closes.
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (handlers.get() > 0 && System.nanoTime() < until) {
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        // A handler's answer (ctx.result) is written by Javalin after the handler returns: give those writes a
        // moment before the listener closes. (Jetty's graceful stop would wait for them exactly; not wired yet.)
        try {
            Thread.sleep(250);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        app.stop();
        closeModel();
        return clean;
    }

    @Override
    public void close() {
        shutdown(0);
    }

    private void closeModel() {
        if (scheduler != null) {
            scheduler.close();
            tokenizer.close();
        } else if (embeddings != null) {
            embeddings.close();
        }
        if (classifiers != null) {
            classifiers.close();
        }
        kernels.close();
    }

    // ------------------------------------------------------------------------------------------------
    // Routes
    // ------------------------------------------------------------------------------------------------

    private void authorize(Context ctx) {
        if (apiKeyDigest == null) {
            return;
        }
        String h = ctx.header("Authorization");
        String given = h != null && h.regionMatches(true, 0, "Bearer ", 0, 7) ? h.substring(7).trim() : "";
        // Digests of equal length, compared in constant time: neither the key's length nor a prefix leaks.
        if (!MessageDigest.isEqual(apiKeyDigest, sha256(given))) {
            throw new ApiException(401, "invalid_request_error", "Incorrect or missing API key: send the header"
                    + " 'Authorization: Bearer KEY' with the server's key", null, "invalid_api_key");
        }
    }

    private void health(Context ctx) {
        ctx.status(draining ? 503 : 200).contentType("application/json").result(draining ? "{\"status\":\"shutting down\"}" : "{\"status\":\"ok\"}");
    }

    private void scrape(Context ctx) {
        ctx.contentType("text/plain; version=0.0.4; charset=utf-8").result(metrics.scrape());
    }

    private void models(Context ctx) {
        ObjectNode out = JSON.createObjectNode();
        out.put("object", "list");
        ArrayNode data = out.putArray("data");
        if (baseName != null) {
            ObjectNode b = data.addObject();
            b.put("id", baseName);
            b.put("object", "model");
            b.put("created", created);
            b.put("owned_by", "dynalora");
            b.put("root", baseName);
            b.putNull("parent");
            b.put("max_model_len", model != null ? model.maxPositions() : embeddings.maxPositions());
        }
        for (String name : adapters != null ? adapters.names() : List.<String>of()) {
            ObjectNode a = data.addObject();
            a.put("id", name);
            a.put("object", "model");
            a.put("created", created);
            a.put("owned_by", "dynalora");
            a.put("root", name);
            a.put("parent", baseName);
            a.put("max_model_len", model.maxPositions());
        }
        for (ClassifierService.Classifier c : classifiers != null ? classifiers.all() : List.<ClassifierService.Classifier>of()) {
            ObjectNode a = data.addObject();
            a.put("id", c.name);
            a.put("object", "model");
            a.put("created", created);
            a.put("owned_by", "dynalora");
            a.put("root", c.runDir.toString());
            a.put("parent", c.baseModel);
            a.put("max_model_len", c.maxLen);
            a.put("task", c.task.id());
            ArrayNode labels = a.putArray("labels");
            c.task.labelNames().forEach(labels::add);
        }
        json(ctx, 200, out);
    }

    private void loadAdapter(Context ctx) {
        decoderOnly("/v1/load_lora_adapter");
        JsonNode body = body(ctx);
        String name = text(body, "lora_name");
        String path = text(body, "lora_path");
        adapters.registerAtRunTime(name, path);
        ctx.contentType("text/plain; charset=utf-8").result("Success: LoRA adapter '" + name + "' added successfully.");
    }

    private void unloadAdapter(Context ctx) {
        decoderOnly("/v1/unload_lora_adapter");
        JsonNode body = body(ctx);
        String name = text(body, "lora_name");
        adapters.unregister(name);
        ctx.contentType("text/plain; charset=utf-8").result("Success: LoRA adapter '" + name + "' removed successfully.");
    }

    private void decoderOnly(String route) {
        if (scheduler == null) {
            throw ApiException.badRequest(route + " needs a causal language model; this server holds "
                    + (baseName != null ? "the encoder " + baseName + " (POST /v1/embeddings)" : "classifiers only (POST /v1/classify)"), null);
        }
    }

    /** POST /v1/embeddings (encoders): OpenAI's embeddings answer. */
    private void embed(Context ctx) {
        if (embeddings == null) {
            throw ApiException.badRequest("/v1/embeddings needs an encoder model; this server holds "
                    + (baseName != null ? "the decoder " + baseName + " (POST /v1/completions)" : "classifiers only (POST /v1/classify)"), null);
        }
        if (draining) {
            throw new ApiException(503, "server_error", "the server is shutting down", null, "shutting_down");
        }
        JsonNode body = body(ctx);
        JsonNode m = body.get("model");
        if (m == null || !m.isTextual()) {
            throw ApiException.badRequest("you must provide a model parameter (a string)", "model");
        }
        if (!m.asText().equals(baseName)) {
            throw ApiException.notFound("The model `" + m.asText() + "` does not exist (GET /v1/models)", "model", "model_not_found");
        }
        List<int[]> inputs = embeddings.inputs(body);
        float[][] vectors = embeddings.embed(inputs);
        ObjectNode out = JSON.createObjectNode();
        out.put("object", "list");
        ArrayNode data = out.putArray("data");
        int tokens = 0;
        for (int i = 0; i < vectors.length; i++) {
            ObjectNode d = data.addObject();
            d.put("object", "embedding");
            d.put("index", i);
            ArrayNode v = d.putArray("embedding");
            for (float x : vectors[i]) {
                v.add(x);
            }
            tokens += inputs.get(i).length;
        }
        out.put("model", baseName);
        ObjectNode u = out.putObject("usage");
        u.put("prompt_tokens", tokens);
        u.put("total_tokens", tokens);
        metrics.promptTokens(tokens);
        json(ctx, 200, out);
    }

    /** POST /v1/classify: labels and scores of a GLUE run, as {@code dynalora predict} gives them. */
    private void classify(Context ctx) {
        if (draining) {
            throw new ApiException(503, "server_error", "the server is shutting down", null, "shutting_down");
        }
        JsonNode body = body(ctx);
        JsonNode m = body.get("model");
        if (m == null || !m.isTextual()) {
            throw ApiException.badRequest("you must provide a model parameter (a string)", "model");
        }
        ClassifierService.Classifier c = classifiers == null ? null : classifiers.get(m.asText());
        if (c == null) {
            throw ApiException.notFound("The model `" + m.asText() + "` is not a classifier on this server (GET /v1/models"
                    + " lists them; serve one with --classifier NAME=RUN_DIR)", "model", "model_not_found");
        }
        List<Example> inputs = ClassifierService.inputs(c, body);
        List<ClassifierService.Result> results = classifiers.classify(c, inputs);
        ObjectNode out = JSON.createObjectNode();
        out.put("object", "list");
        out.put("model", c.name);
        ArrayNode data = out.putArray("data");
        int tokens = 0;
        for (int i = 0; i < results.size(); i++) {
            ClassifierService.Result r = results.get(i);
            ObjectNode d = data.addObject();
            d.put("index", i);
            d.put("label", r.label());
            if (r.probabilities() != null) {
                ArrayNode p = d.putArray("probabilities");
                for (float x : r.probabilities()) {
                    p.add(x);
                }
            } else {
                d.put("score", r.score());
            }
            tokens += r.tokens();
        }
        ArrayNode labels = out.putArray("labels");
        c.task.labelNames().forEach(labels::add);
        ObjectNode u = out.putObject("usage");
        u.put("prompt_tokens", tokens);
        u.put("total_tokens", tokens);
        metrics.promptTokens(tokens);
        json(ctx, 200, out);
    }

    private static String text(JsonNode body, String field) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isTextual()) {
            throw ApiException.badRequest(field + " must be a string", field);
        }
        return v.asText();
    }

    private void completions(Context ctx) throws IOException {
        handlers.incrementAndGet();
        try {
            completionsCounted(ctx);
        } finally {
            handlers.decrementAndGet();
        }
    }

    private void completionsCounted(Context ctx) throws IOException {
        decoderOnly("/v1/completions");
        if (draining) {
            throw new ApiException(503, "server_error", "the server is shutting down", null, "shutting_down");
        }
        CompletionRequest r = CompletionRequest.parse(body(ctx), tokenizer::encode, model.maxPositions(), model.vocabSize());
        run(ctx, r, new CompletionAnswers(tokenizer::token, r.logprobs));
    }

    /** POST /v1/chat/completions: the conversation rendered by the chat template, then generated as completions are. */
    private void chatCompletions(Context ctx) throws IOException {
        handlers.incrementAndGet();
        try {
            decoderOnly("/v1/chat/completions");
            if (draining) {
                throw new ApiException(503, "server_error", "the server is shutting down", null, "shutting_down");
            }
            if (!chatTemplate.available()) {
                throw ApiException.badRequest(chatTemplate.missing(), null);
            }
            CompletionRequest r = ChatRequest.parse(body(ctx), chatTemplate, tokenizer::encodeVerbatim, model.maxPositions());
            run(ctx, r, new ChatAnswers(tokenizer::token, r.logprobs));
        } finally {
            handlers.decrementAndGet();
        }
    }

    /** Generates a parsed request for its model (the base or an adapter) and answers it in the route's format. */
    private void run(Context ctx, CompletionRequest r, AnswerFormat format) throws IOException {
        String adapter;
        if (r.model.equals(baseName)) {
            adapter = null;
        } else if (adapters.has(r.model)) {
            adapter = r.model;
        } else {
            throw ApiException.notFound("The model `" + r.model + "` does not exist (GET /v1/models lists the base and"
                    + " its adapters)", "model", "model_not_found");
        }
        String id = format.idPrefix() + HexFormat.of().formatHex(randomBytes());
        long now = System.currentTimeMillis() / 1000;
        if (r.stream) {
            stream(ctx, r, adapter, format, id, now);
        } else {
            complete(ctx, r, adapter, format, id, now);
        }
    }

    /** Collects every prompt's completion, then answers once. */
    private void complete(Context ctx, CompletionRequest r, String adapter, AnswerFormat format, String id, long now) {
        int n = r.prompts.size();
        Completion[] done = new Completion[n];
        List<List<GeneratedToken>> tokens = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            tokens.add(new ArrayList<>());
        }
        CompletableFuture<Void> all = new CompletableFuture<>();
        Scheduler.Job job = new Scheduler.Job(adapter, r.prompts, r.config, new Scheduler.Listener() {
            int left = n;

            @Override
            public void onToken(int index, int token, String text, float logprob, TopLogprobs top) {
                if (r.logprobsAsked) {
                    tokens.get(index).add(new GeneratedToken(token, logprob, top));
                }
            }

            @Override
            public void onFinished(int index, Completion completion, String rest) {
                done[index] = completion;
                if (--left == 0) {
                    all.complete(null);
                }
            }

            @Override
            public void onError(ApiException e) {
                all.completeExceptionally(e);
            }
        });
        scheduler.submit(job);
        try {
            all.get();
        } catch (InterruptedException e) {
            job.cancel();
            Thread.currentThread().interrupt();
            throw new ApiException(503, "server_error", "interrupted", null, null);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof ApiException a ? a : new ApiException(500, "server_error", "internal error", null, null);
        }
        ObjectNode out = header(id, format.object(), now, r.model);
        ArrayNode choices = out.putArray("choices");
        int completionTokens = 0;
        for (int i = 0; i < n; i++) {
            Completion c = done[i];
            ObjectNode ch = choices.addObject();
            ch.put("index", i);
            format.choice(ch, c, r.logprobsAsked ? tokens.get(i) : null);
            ch.put("finish_reason", c.finishReason().json());
            completionTokens += c.completionIds().length;
        }
        usage(out.putObject("usage"), r.promptTokens, completionTokens);
        json(ctx, 200, out);
    }

    private static ObjectNode header(String id, String object, long now, String model) {
        ObjectNode out = JSON.createObjectNode();
        out.put("id", id);
        out.put("object", object);
        out.put("created", now);
        out.put("model", model);
        return out;
    }

    private static void usage(ObjectNode u, int prompt, int completion) {
        u.put("prompt_tokens", prompt);
        u.put("completion_tokens", completion);
        u.put("total_tokens", prompt + completion);
    }

    /**
     * Server-sent events: the format's opening chunk for each choice (chat: the assistant's role), a chunk per
     * piece of text, one with each choice's finish_reason, then [DONE].
     */
    private void stream(Context ctx, CompletionRequest r, String adapter, AnswerFormat format, String id, long now)
            throws IOException {
        BlockingQueue<Object> events = new LinkedBlockingQueue<>();
        int n = r.prompts.size();
        Scheduler.Job job = new Scheduler.Job(adapter, r.prompts, r.config, new Scheduler.Listener() {
            @Override
            public void onToken(int index, int token, String text, float logprob, TopLogprobs top) {
                if (!text.isEmpty() || r.logprobsAsked) {
                    events.add(new Piece(index, text, r.logprobsAsked ? new GeneratedToken(token, logprob, top) : null, null));
                }
            }

            @Override
            public void onFinished(int index, Completion completion, String rest) {
                events.add(new Piece(index, rest, null, completion));
            }

            @Override
            public void onError(ApiException e) {
                events.add(e);
            }
        });
        scheduler.submit(job); // 429 / 503 still go out as a plain error response
        var res = ctx.res();
        res.setStatus(200);
        res.setContentType("text/event-stream; charset=utf-8");
        res.setHeader("Cache-Control", "no-cache");
        res.setHeader("X-Accel-Buffering", "no");
        OutputStream out = res.getOutputStream();
        int finished = 0;
        int completionTokens = 0;
        try {
            for (int i = 0; i < n; i++) {
                ObjectNode chunk = header(id, format.chunkObject(), now, r.model);
                ObjectNode ch = chunk.putArray("choices").addObject();
                ch.put("index", i);
                if (!format.opening(ch)) {
                    break;
                }
                ch.putNull("finish_reason");
                send(out, chunk);
            }
            while (finished < n) {
                Object ev = events.take();
                if (ev instanceof ApiException e) {
                    send(out, errorBody(e));
                    break;
                }
                Piece p = (Piece) ev;
                ObjectNode chunk = header(id, format.chunkObject(), now, r.model);
                ObjectNode ch = chunk.putArray("choices").addObject();
                ch.put("index", p.index);
                format.piece(ch, p.text, p.token, p.done != null);
                if (p.done != null) {
                    ch.put("finish_reason", p.done.finishReason().json());
                    finished++;
                    completionTokens += p.done.completionIds().length;
                } else {
                    ch.putNull("finish_reason");
                }
                send(out, chunk);
            }
            if (finished == n && r.includeUsage) {
                ObjectNode chunk = header(id, format.chunkObject(), now, r.model);
                chunk.putArray("choices");
                usage(chunk.putObject("usage"), r.promptTokens, completionTokens);
                send(out, chunk);
            }
            out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
            out.flush();
        } catch (IOException e) {
            job.cancel(); // the client went away: its sequences leave the batch at the next step
        } catch (InterruptedException e) {
            job.cancel();
            Thread.currentThread().interrupt();
        }
    }

    private record Piece(int index, String text, GeneratedToken token, Completion done) {
    }

    private static void send(OutputStream out, JsonNode chunk) throws IOException {
        out.write(("data: " + JSON.writeValueAsString(chunk) + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    // ------------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------------

    private static JsonNode body(Context ctx) {
        byte[] bytes = ctx.bodyAsBytes();
        if (bytes.length == 0) {
            throw ApiException.badRequest("the request body is empty; send a JSON object", null);
        }
        try {
            return JSON.readTree(bytes);
        } catch (JsonProcessingException e) {
            throw ApiException.badRequest("the request body is not valid JSON: " + e.getOriginalMessage(), null);
        } catch (IOException e) {
            throw ApiException.badRequest("the request body cannot be read", null);
        }
    }

    private static ObjectNode errorBody(ApiException e) {
        ObjectNode out = JSON.createObjectNode();
        ObjectNode err = out.putObject("error");
        err.put("message", e.getMessage());
        err.put("type", e.type());
        if (e.param() != null) {
            err.put("param", e.param());
        } else {
            err.putNull("param");
        }
        if (e.code() != null) {
            err.put("code", e.code());
        } else {
            err.putNull("code");
        }
        return out;
    }

    private static void error(Context ctx, ApiException e) {
        json(ctx, e.status(), errorBody(e));
    }

    private static void json(Context ctx, int status, JsonNode body) {
        try {
            ctx.status(status).contentType("application/json").result(JSON.writeValueAsString(body));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String routeName(Context ctx) {
        String p = ctx.path();
        return switch (p) {
            case "/v1/completions", "/v1/chat/completions", "/v1/embeddings", "/v1/classify", "/v1/models", "/v1/load_lora_adapter", "/v1/unload_lora_adapter", "/health", "/metrics" -> p;
            default -> "other";
        };
    }

    private static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] randomBytes() {
        byte[] b = new byte[12];
        ThreadLocalRandom.current().nextBytes(b);
        return b;
    }

    /** The tokenizer shared by the HTTP threads (encoding prompts) and the scheduler (decoding text). */
    static final class SafeTokenizer implements Detokenizer, AutoCloseable {
        private final PromptTokenizer inner;

        SafeTokenizer(PromptTokenizer inner) {
            this.inner = inner;
        }

        synchronized int[] encode(String text) {
            return inner.encode(text);
        }

        synchronized int[] encodeVerbatim(String text) {
            return inner.encodeVerbatim(text);
        }

        @Override
        public synchronized String decode(int[] ids, int from, int to) {
            return inner.decode(ids, from, to);
        }

        synchronized String token(int id) {
            return inner.decode(new int[] {id});
        }

        @Override
        public synchronized void close() {
            inner.close();
        }
    }
}
