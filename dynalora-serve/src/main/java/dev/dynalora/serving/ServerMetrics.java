package dev.dynalora.serving;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * The server's metrics, in a Micrometer registry scraped in Prometheus' text format at GET /metrics:
 * requests by route and status, prompt and generated tokens, queue length and sequences running, loaded
 * adapters, and histograms of the time to first token (from the request's arrival) and of the time per
 * output token after the first.
 */
final class ServerMetrics {
    final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final Counter promptTokens;
    private final Counter generatedTokens;
    private final Timer ttft;
    private final Timer tpot;
    private final AtomicInteger queue = new AtomicInteger();
    private final AtomicInteger running = new AtomicInteger();

    ServerMetrics(Supplier<Number> loadedAdapters, Supplier<Number> registeredAdapters) {
        promptTokens = Counter.builder("dynalora.prompt.tokens").description("Prompt tokens prefilled").register(registry);
        generatedTokens = Counter.builder("dynalora.generation.tokens").description("Tokens generated").register(registry);
        ttft = Timer.builder("dynalora.time.to.first.token").description("From a request's arrival to its first token")
                .serviceLevelObjectives(ms(10), ms(25), ms(50), ms(100), ms(250), ms(500), ms(1000), ms(2500), ms(5000),
                        ms(10_000), ms(30_000), ms(60_000))
                .register(registry);
        tpot = Timer.builder("dynalora.time.per.output.token").description("Between consecutive tokens of a sequence")
                .serviceLevelObjectives(ms(1), ms(2), ms(5), ms(10), ms(20), ms(50), ms(100), ms(200), ms(500), ms(1000),
                        ms(5000))
                .register(registry);
        Gauge.builder("dynalora.queue.length", queue, AtomicInteger::get).description("Prompts waiting to start").register(registry);
        Gauge.builder("dynalora.running", running, AtomicInteger::get).description("Sequences being generated").register(registry);
        Gauge.builder("dynalora.adapters.loaded", () -> loadedAdapters.get()).description("Adapters in memory").register(registry);
        Gauge.builder("dynalora.adapters.registered", () -> registeredAdapters.get()).description("Adapters served").register(registry);
    }

    private static Duration ms(long millis) {
        return Duration.ofMillis(millis);
    }

    void request(String route, int status) {
        Counter.builder("dynalora.requests").description("HTTP requests answered").tag("route", route)
                .tag("status", Integer.toString(status)).register(registry).increment();
    }

    void promptTokens(int n) {
        promptTokens.increment(n);
    }

    void generatedTokens(int n) {
        generatedTokens.increment(n);
    }

    void timeToFirstToken(long nanos) {
        ttft.record(nanos, TimeUnit.NANOSECONDS);
    }

    void timePerOutputToken(long nanos) {
        tpot.record(nanos, TimeUnit.NANOSECONDS);
    }

    void setQueue(int waiting, int inFlight) {
        queue.set(waiting);
        running.set(inFlight);
    }

    String scrape() {
        return registry.scrape();
    }
}
