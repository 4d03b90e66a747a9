package dev.dynalora.cli;

import dev.dynalora.UserInputException;
import dev.dynalora.serving.OpenAiServer;
import dev.dynalora.serving.ServeOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import sun.misc.Signal;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * dynalora serve: an OpenAI-compatible HTTP server for a decoder model and its LoRA adapters (see
 * serving.OpenAiServer). Runs until SIGTERM or Ctrl-C: then it stops taking requests, lets the running ones
 * finish for up to --shutdown-grace seconds, and exits 0. A second signal exits at once.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve a causal LM and its LoRA adapters over an OpenAI-compatible HTTP API (/v1/completions,"
                + " /v1/chat/completions, /v1/models,"
                + " /v1/load_lora_adapter, /health, /metrics), batching requests for different adapters together; or an"
                + " encoder's /v1/embeddings; and /v1/classify for GLUE runs (--classifier).")
final class ServeCommand implements Callable<Integer> {
    static final String API_KEY_ENV = "DYNALORA_API_KEY";

    @Option(names = "--model", paramLabel = "DIR", description = "Hugging Face causal-LM folder (model_type llama), or an encoder's (BERT family) for /v1/embeddings."
            + " May be left out when --classifier is given.")
    Path model;

    @Option(names = "--classifier", paramLabel = "NAME=RUN_DIR", description = "Serve a GLUE run folder written by dynalora train under NAME"
            + " on POST /v1/classify, with the labels and scores predict gives (repeatable).")
    List<String> classifierSpecs = new ArrayList<>();

    @Option(names = "--chat-template", paramLabel = "FILE", description = "A Jinja chat template (Hugging Face's format)"
            + " for POST /v1/chat/completions, instead of the model folder's (tokenizer_config.json's chat_template), as"
            + " vLLM's --chat-template.")
    Path chatTemplate;

    @Option(names = "--served-model-name", paramLabel = "NAME", description = "The name requests give for the base model (default: the folder's name).")
    String modelName;

    @Option(names = "--adapter", paramLabel = "NAME=DIR", description = "Serve a PEFT adapter folder under NAME (repeatable), as vLLM's --lora-modules.")
    List<String> adapterSpecs = new ArrayList<>();

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Address to listen on. Default: ${DEFAULT-VALUE} (this machine only).")
    String host;

    @Option(names = "--port", defaultValue = "8080", description = "Default: ${DEFAULT-VALUE}; 0 picks a free port.")
    int port;

    @Option(names = "--api-key", paramLabel = "KEY", description = "Require 'Authorization: Bearer KEY' on every /v1 route"
            + " (default: the environment variable " + API_KEY_ENV + "; neither: no key).")
    String apiKey;

    @Option(names = "--max-loaded-adapters", defaultValue = "64", paramLabel = "N", description = "Adapters kept in memory at once, least recently used out first. Default: ${DEFAULT-VALUE}.")
    int maxLoaded;

    @Option(names = "--adapter-root", paramLabel = "DIR", description = "Allow POST /v1/load_lora_adapter to load adapter folders under DIR (off without it).")
    Path adapterRoot;

    @Option(names = "--max-batch", defaultValue = "32", paramLabel = "N", description = "Sequences decoded together at most. Default: ${DEFAULT-VALUE}.")
    int maxBatch;

    @Option(names = "--max-queue", defaultValue = "256", paramLabel = "N", description = "Prompts waiting at most; more are answered 429. Default: ${DEFAULT-VALUE}.")
    int maxQueue;

    @Option(names = "--max-request-bytes", defaultValue = "1048576", paramLabel = "N", description = "Largest request body (413 beyond). Default: ${DEFAULT-VALUE}.")
    long maxRequestBytes;

    @Option(names = "--shutdown-grace", defaultValue = "30", paramLabel = "SECONDS", description = "On SIGTERM, how long running requests may take to finish. Default: ${DEFAULT-VALUE}.")
    int grace;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() throws InterruptedException {
        Map<String, Path> adapters = specs("--adapter", "NAME=DIR", adapterSpecs);
        Map<String, Path> classifiers = specs("--classifier", "NAME=RUN_DIR", classifierSpecs);
        if (model == null && classifiers.isEmpty()) {
            throw new UserInputException("serve needs --model DIR, --classifier NAME=RUN_DIR, or both");
        }
        if (grace < 0) {
            throw new UserInputException("--shutdown-grace must be >= 0, got " + grace);
        }
        if (maxRequestBytes < 1024) {
            throw new UserInputException("--max-request-bytes must be at least 1024, got " + maxRequestBytes);
        }
        String key = apiKey != null ? apiKey : System.getenv(API_KEY_ENV);
        if (key != null && key.isEmpty()) {
            key = null;
        }
        ServeOptions o = new ServeOptions(model, modelName, adapters, host, port, threads.resolve(), key, maxLoaded,
                adapterRoot, maxBatch, maxQueue, maxRequestBytes, classifiers, chatTemplate);
        // Javalin logs a failed start (a port in use) itself, before the one-line error below; Jetty's notices
        // are for operators only at error level. (slf4j-simple reads these when the loggers are first made.)
        System.setProperty("org.slf4j.simpleLogger.log.io.javalin", "off");
        System.setProperty("org.slf4j.simpleLogger.log.org.eclipse.jetty", "error");
        CountDownLatch stop = new CountDownLatch(1);
        OpenAiServer server = OpenAiServer.start(o);
        installSignals(stop);
        List<String> what = new ArrayList<>();
        if (server.baseName() != null) {
            what.add(server.baseName());
        }
        if (!adapters.isEmpty()) {
            what.add(adapters.size() + " adapter" + (adapters.size() == 1 ? "" : "s"));
        }
        if (!classifiers.isEmpty()) {
            what.add(classifiers.size() + " classifier" + (classifiers.size() == 1 ? "" : "s"));
        }
        System.err.println("dynalora: serving " + String.join(" and ", what) + " on http://" + hostForUrl(host) + ":" + server.port()
                + (key != null ? " (API key required)" : ""));
        System.err.flush();
        stop.await();
        System.err.println("dynalora: shutting down (waiting up to " + grace + " s for running requests)");
        System.err.flush();
        boolean clean = server.shutdown(grace * 1000L);
        if (!clean) {
            System.err.println("dynalora: requests still running after " + grace + " s were cancelled");
        }
        return 0;
    }

    private static Map<String, Path> specs(String option, String form, List<String> given) {
        Map<String, Path> out = new LinkedHashMap<>();
        for (String spec : given) {
            int eq = spec.indexOf('=');
            if (eq <= 0 || eq == spec.length() - 1) {
                throw new UserInputException(option + " takes " + form + ", got \"" + spec + "\"");
            }
            String name = spec.substring(0, eq);
            if (out.put(name, Path.of(spec.substring(eq + 1))) != null) {
                throw new UserInputException(option + " " + name + " is given twice");
            }
        }
        return out;
    }

    private static String hostForUrl(String h) {
        return h.contains(":") ? "[" + h + "]" : h;
    }

    /** The first SIGTERM or SIGINT starts a clean shutdown; a second one exits at once. */
    private static void installSignals(CountDownLatch stop) {
        for (String name : new String[] {"INT", "TERM"}) {
            try {
                Signal.handle(new Signal(name), s -> {
                    if (stop.getCount() == 0) {
                        System.exit(128 + s.getNumber());
                    }
                    stop.countDown();
                });
            } catch (IllegalArgumentException | UnsupportedOperationException e) {
                // Not available here: the JVM's default applies.
            }
        }
    }
}
