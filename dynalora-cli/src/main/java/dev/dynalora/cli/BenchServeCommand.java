package dev.dynalora.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.UserInputException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * dynalora bench serve: a load generator for a running dynalora serve (or any OpenAI-compatible server). Each
 * request names a random adapter and a random prompt, greedy, streamed (time to first token measured as the
 * first text event). Two phases: the same kind of requests sent one at a time (the baseline), then from
 * --clients concurrent clients for --duration seconds, while one more client sends bad requests (garbage JSON,
 * huge max_tokens, an unknown adapter, optionally a load of a corrupt adapter folder) and checks their status.
 * With --reference, every completion is compared with dynalora generate's output for its prompt and adapter.
 * Prints a summary and one JSON line; exits 1 if any request failed or any completion differed.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Load-test a running dynalora serve: concurrent clients, random adapter per request, greedy; tokens/s against one-at-a-time, p99 time to first token, completions checked against generate.")
final class BenchServeCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Option(names = "--url", defaultValue = "http://127.0.0.1:8080", description = "The server. Default: ${DEFAULT-VALUE}.")
    String url;

    @Option(names = "--adapters", required = true, split = ",", paramLabel = "NAME[,NAME...]", description = "Model names to draw from (adapters, or the base).")
    List<String> adapters;

    @Option(names = "--prompts", required = true, paramLabel = "PROMPTS.jsonl", description = "One JSON object per line with a \"prompt\" string.")
    Path prompts;

    @Option(names = "--reference", paramLabel = "DIR", description = "DIR/NAME.jsonl: dynalora generate --output for each adapter NAME over --prompts, with the same --max-tokens (greedy).")
    Path reference;

    @Option(names = "--clients", defaultValue = "32", description = "Concurrent clients. Default: ${DEFAULT-VALUE}.")
    int clients;

    @Option(names = "--duration", defaultValue = "60", paramLabel = "SECONDS", description = "Length of the concurrent phase. Default: ${DEFAULT-VALUE}.")
    int duration;

    @Option(names = "--sequential-duration", defaultValue = "20", paramLabel = "SECONDS", description = "Length of the one-at-a-time phase (0: skip). Default: ${DEFAULT-VALUE}.")
    int sequentialDuration;

    @Option(names = "--warmup", defaultValue = "10", paramLabel = "SECONDS", description = "Untimed concurrent requests first, so that"
            + " neither phase pays for the server's JIT warm-up (their completions are still checked). Default: ${DEFAULT-VALUE}.")
    int warmup;

    @Option(names = "--max-tokens", defaultValue = "64", paramLabel = "N", description = "Default: ${DEFAULT-VALUE}.")
    int maxTokens;

    @Option(names = "--api-key", paramLabel = "KEY", description = "Bearer key (default: the environment variable DYNALORA_API_KEY).")
    String apiKey;

    @Option(names = "--corrupt-adapter", paramLabel = "PATH", description = "A corrupt adapter folder (relative to the server's --adapter-root) whose load must be answered 400.")
    String corruptAdapter;

    @Option(names = "--seed", defaultValue = "0", description = "Default: ${DEFAULT-VALUE}.")
    long seed;

    private HttpClient http;
    private String key;

    /** One request's outcome. */
    record Result(String adapter, int prompt, boolean ok, String error, String text, int tokens, long ttftNanos, long nanos) {
    }

    @Override
    public Integer call() throws Exception {
        if (clients < 1 || duration < 1 || sequentialDuration < 0 || warmup < 0 || maxTokens < 1) {
            throw new UserInputException("--clients, --duration and --max-tokens must be at least 1, --sequential-duration and --warmup at least 0");
        }
        List<String> texts = new ArrayList<>();
        for (PromptsFile.Prompt p : PromptsFile.read(prompts)) {
            texts.add(p.text());
        }
        Map<String, List<String>> ref = reference != null ? references(texts) : Map.of();
        key = apiKey != null ? apiKey : System.getenv(ServeCommand.API_KEY_ENV);
        http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        try {
            HttpResponse<String> h = http.send(HttpRequest.newBuilder(URI.create(url + "/health")).build(), HttpResponse.BodyHandlers.ofString());
            if (h.statusCode() != 200) {
                throw new UserInputException(url + "/health answered " + h.statusCode());
            }
        } catch (IOException e) {
            throw new UserInputException("no server answers at " + url + ": " + e.getMessage());
        }
        Phase warm = null;
        if (warmup > 0) {
            System.err.println("bench serve: warming up for " + warmup + " s");
            warm = run(clients, warmup, texts, false);
        }
        Phase seq = null;
        if (sequentialDuration > 0) {
            System.err.println("bench serve: one request at a time for " + sequentialDuration + " s");
            seq = run(1, sequentialDuration, texts, false);
        }
        System.err.println("bench serve: " + clients + " concurrent clients for " + duration + " s");
        Phase conc = run(clients, duration, texts, true);

        int mismatches = 0;
        List<Result> all = new ArrayList<>(conc.results);
        if (seq != null) {
            all.addAll(seq.results);
        }
        if (warm != null) {
            all.addAll(warm.results);
        }
        String firstMismatch = null;
        if (!ref.isEmpty()) {
            for (Result r : all) {
                if (r.ok && !r.text.equals(ref.get(r.adapter).get(r.prompt))) {
                    mismatches++;
                    if (firstMismatch == null) {
                        firstMismatch = r.adapter + " on prompt " + (r.prompt + 1) + ": got " + JSON.writeValueAsString(r.text)
                                + ", generate gave " + JSON.writeValueAsString(ref.get(r.adapter).get(r.prompt));
                    }
                }
            }
        }
        long errors = all.stream().filter(r -> !r.ok).count();
        ObjectNode o = JSON.createObjectNode();
        o.put("url", url);
        o.put("adapters", adapters.size());
        o.put("clients", clients);
        o.put("duration_s", duration);
        o.put("max_tokens", maxTokens);
        o.put("requests", conc.results.size());
        o.put("errors", errors);
        o.put("requests_checked", all.size());
        o.put("checked_against_generate", !ref.isEmpty());
        o.put("mismatches", mismatches);
        o.put("tokens_per_s", BenchSupport.round(conc.tokensPerSecond(), 1));
        if (seq != null) {
            o.put("sequential_requests", seq.results.size());
            o.put("sequential_tokens_per_s", BenchSupport.round(seq.tokensPerSecond(), 1));
            o.put("speedup", BenchSupport.round(conc.tokensPerSecond() / seq.tokensPerSecond(), 2));
        }
        o.put("ttft_p50_ms", BenchSupport.round(conc.ttftPercentile(0.50) / 1e6, 1));
        o.put("ttft_p99_ms", BenchSupport.round(conc.ttftPercentile(0.99) / 1e6, 1));
        o.put("latency_p50_ms", BenchSupport.round(conc.latencyPercentile(0.50) / 1e6, 1));
        o.put("latency_p99_ms", BenchSupport.round(conc.latencyPercentile(0.99) / 1e6, 1));
        o.put("bad_requests", conc.badSent.get());
        o.put("bad_requests_wrong_status", conc.badWrong.get());
        System.err.printf("bench serve: %d requests, %d errors, %d differing from generate; %.1f tokens/s%s; time to first token p50 %.1f ms, p99 %.1f ms;"
                        + " %d bad requests, %d answered with the wrong status%n",
                conc.results.size(), errors, mismatches, conc.tokensPerSecond(),
                seq == null ? "" : String.format(" (one at a time: %.1f, x%.2f)", seq.tokensPerSecond(), conc.tokensPerSecond() / seq.tokensPerSecond()),
                conc.ttftPercentile(0.5) / 1e6, conc.ttftPercentile(0.99) / 1e6, conc.badSent.get(), conc.badWrong.get());
        all.stream().filter(r -> !r.ok).limit(3).forEach(r -> System.err.println("bench serve: error: " + r.error));
        conc.badMessages.stream().limit(3).forEach(m -> System.err.println("bench serve: bad request: " + m));
        if (firstMismatch != null) {
            System.err.println("bench serve: first difference: " + firstMismatch);
        }
        System.out.println(o);
        return errors == 0 && mismatches == 0 && conc.badWrong.get() == 0 ? 0 : 1;
    }

    /** reference/NAME.jsonl's completions, in prompt order, for every adapter. */
    private Map<String, List<String>> references(List<String> texts) {
        Map<String, List<String>> out = new HashMap<>();
        for (String a : adapters) {
            Path f = reference.resolve(a + ".jsonl");
            if (!Files.isRegularFile(f)) {
                throw new UserInputException("--reference " + reference + " has no " + a + ".jsonl (dynalora generate --output for that adapter)");
            }
            List<String> completions = new ArrayList<>();
            try (Stream<String> lines = Files.lines(f)) {
                for (Iterator<String> it = lines.iterator(); it.hasNext(); ) {
                    JsonNode n = JSON.readTree(it.next());
                    completions.add(n.path("completion").asText());
                }
            } catch (IOException e) {
                throw new UserInputException(f + ": cannot read: " + e.getMessage());
            }
            if (completions.size() != texts.size()) {
                throw new UserInputException(f + " has " + completions.size() + " completions for " + texts.size() + " prompts");
            }
            out.put(a, completions);
        }
        return out;
    }

    private final class Phase {
        final List<Result> results = Collections.synchronizedList(new ArrayList<>());
        final AtomicLong badSent = new AtomicLong();
        final AtomicLong badWrong = new AtomicLong();
        final List<String> badMessages = Collections.synchronizedList(new ArrayList<>());
        long nanos;

        double tokensPerSecond() {
            long tokens = 0;
            synchronized (results) {
                for (Result r : results) {
                    tokens += r.ok ? r.tokens : 0;
                }
            }
            return tokens / (nanos / 1e9);
        }

        double ttftPercentile(double q) {
            return percentile(results.stream().filter(Result::ok).mapToLong(Result::ttftNanos).sorted().toArray(), q);
        }

        double latencyPercentile(double q) {
            return percentile(results.stream().filter(Result::ok).mapToLong(Result::nanos).sorted().toArray(), q);
        }
    }

    private static double percentile(long[] sorted, double q) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        int i = (int) Math.ceil(q * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
    }

    /** n clients sending requests back to back until the time is up (requests in flight then finish and count). */
    private Phase run(int n, int seconds, List<String> texts, boolean withBad) throws InterruptedException {
        Phase phase = new Phase();
        long start = System.nanoTime();
        long end = start + seconds * 1_000_000_000L;
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> threads = new ArrayList<>();
        for (int c = 0; c < n; c++) {
            SplittableRandom r = new SplittableRandom(seed * 7919 + c + (withBad ? 1_000_000 : 0));
            threads.add(new Thread(() -> {
                while (System.nanoTime() < end) {
                    String a = adapters.get(r.nextInt(adapters.size()));
                    int p = r.nextInt(texts.size());
                    phase.results.add(request(a, p, texts.get(p)));
                }
            }));
        }
        if (withBad) {
            threads.add(new Thread(() -> {
                while (!stop.get() && System.nanoTime() < end) {
                    bad(phase, texts.get(0));
                    sleep(500);
                }
            }));
        }
        threads.forEach(Thread::start);
        for (int i = 0; i < n; i++) {
            threads.get(i).join();
        }
        phase.nanos = System.nanoTime() - start;
        stop.set(true);
        if (withBad) {
            threads.get(n).join();
        }
        return phase;
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private Result request(String adapter, int prompt, String text) {
        ObjectNode body = JSON.createObjectNode();
        body.put("model", adapter);
        body.put("prompt", text);
        body.put("max_tokens", maxTokens);
        body.put("temperature", 0);
        body.put("stream", true);
        body.putObject("stream_options").put("include_usage", true);
        long t0 = System.nanoTime();
        try {
            HttpResponse<Stream<String>> res = http.send(post("/v1/completions", JSON.writeValueAsString(body)), HttpResponse.BodyHandlers.ofLines());
            if (res.statusCode() != 200) {
                String b = String.join("\n", res.body().toList());
                return new Result(adapter, prompt, false, res.statusCode() + " " + b, null, 0, 0, 0);
            }
            StringBuilder out = new StringBuilder();
            long ttft = -1;
            int tokens = -1;
            boolean done = false;
            for (Iterator<String> it = res.body().iterator(); it.hasNext(); ) {
                String line = it.next();
                if (!line.startsWith("data: ")) {
                    continue;
                }
                String data = line.substring(6);
                if (data.equals("[DONE]")) {
                    done = true;
                    continue;
                }
                JsonNode chunk = JSON.readTree(data);
                if (chunk.has("error")) {
                    return new Result(adapter, prompt, false, "error event: " + data, null, 0, 0, 0);
                }
                if (chunk.has("usage") && chunk.path("usage").isObject()) {
                    tokens = chunk.path("usage").path("completion_tokens").asInt();
                }
                for (JsonNode ch : chunk.path("choices")) {
                    String t = ch.path("text").asText();
                    if (ttft < 0) {
                        ttft = System.nanoTime() - t0;
                    }
                    out.append(t);
                }
            }
            if (!done || tokens < 0) {
                return new Result(adapter, prompt, false, "stream ended without usage and [DONE]", null, 0, 0, 0);
            }
            return new Result(adapter, prompt, true, null, out.toString(), tokens, ttft, System.nanoTime() - t0);
        } catch (IOException | UncheckedIOException e) {
            return new Result(adapter, prompt, false, e.toString(), null, 0, 0, 0);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(adapter, prompt, false, "interrupted", null, 0, 0, 0);
        }
    }

    /** One round of bad requests, each of which must get its status while the clients go on. */
    private void bad(Phase phase, String prompt) {
        String a = adapters.get(0);
        expect(phase, "garbage JSON", "/v1/completions", "{\"model\": \"" + a + "\", \"prompt\": ", 400);
        expect(phase, "unknown adapter", "/v1/completions", "{\"model\": \"no-such-adapter-xyz\", \"prompt\": \"hi\"}", 404);
        expect(phase, "huge max_tokens", "/v1/completions", "{\"model\": \"" + a + "\", \"prompt\": " + quote(prompt)
                + ", \"max_tokens\": 1000000000, \"temperature\": 0}", 200);
        if (corruptAdapter != null) {
            expect(phase, "load of a corrupt adapter", "/v1/load_lora_adapter", "{\"lora_name\": \"corrupt-xyz\", \"lora_path\": "
                    + quote(corruptAdapter) + "}", 400);
        }
    }

    private void expect(Phase phase, String what, String path, String body, int status) {
        phase.badSent.incrementAndGet();
        try {
            HttpResponse<String> r = http.send(post(path, body), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != status) {
                phase.badWrong.incrementAndGet();
                phase.badMessages.add(what + ": expected " + status + ", got " + r.statusCode() + " " + r.body());
            }
        } catch (IOException e) {
            phase.badWrong.incrementAndGet();
            phase.badMessages.add(what + ": " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private HttpRequest post(String path, String body) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url + path)).timeout(Duration.ofMinutes(10))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        return b.build();
    }

    private static String quote(String s) {
        try {
            return JSON.writeValueAsString(s);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
