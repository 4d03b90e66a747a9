package dev.dynalora.serving;

import dev.dynalora.generation.Completion;
import dev.dynalora.generation.DecodingSequence;
import dev.dynalora.generation.Detokenizer;
import dev.dynalora.generation.GenerationConfig;
import dev.dynalora.generation.TopLogprobs;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.models.CausalLm;
import dev.dynalora.models.DecodingCache;
import dev.dynalora.models.LinearModule;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Continuous batching over one base model for any mix of adapters. Requests wait in a bounded queue; between
 * decoding steps, waiting sequences join the batch (up to {@code maxBatch} in flight, one KV-cache slot each)
 * and finished ones leave it. Every decode step is one forward pass over all sequences in flight, whatever
 * their adapters: the base weights' products run once for the whole batch, and {@link RoutedAdapter} adds
 * each row's own adapter product.
 *
 * <p><b>Batch invariance.</b> A sequence's tokens must not depend on what else is in the batch: greedy output
 * from the server equals {@code dynalora generate} for the same prompt and adapter, token for token. Two
 * choices keep it so:
 * <ul>
 *   <li>Each prompt is prefilled alone, in its own forward pass, on the backend's kernels, exactly as
 *       generate prefills it (a prompt of more than 8 tokens goes through the blocked SGEMM there, whose
 *       rounding depends on the rows it is given, so prompts are never prefilled together).</li>
 *   <li>Decode steps give each sequence one row, and run on {@link RowInvariantKernels}: every linear
 *       product stays on the backend's dot-product path (kernels.Gemv; up to 32 rows per call, more cut into
 *       blocks), where a row's result is the same float operations whatever the number of rows beside it and
 *       the thread count. So a step of 32 sequences computes for each what a step of 1 computes (generate's
 *       decode steps, alone or in its own batches of up to 8, are on the same path).</li>
 * </ul>
 * Attention, norms and activations are per sequence or per row already. Only the scheduler thread runs the
 * model.
 */
final class Scheduler implements AutoCloseable {

    /** What a request hears about its sequences, on the scheduler thread (keep it quick). */
    interface Listener {
        /** A new token of prompt {@code index}, and the text that became final with it (possibly empty). */
        void onToken(int index, int token, String text, float logprob, TopLogprobs top);

        /** Prompt {@code index} is done; {@code rest} is text released only at its end. */
        void onFinished(int index, Completion completion, String rest);

        /** The request failed (no further calls). */
        void onError(ApiException e);
    }

    /** A request: one or more prompts for one adapter (null: the base), generated with one config. */
    static final class Job {
        final String adapter;
        final List<int[]> prompts;
        final GenerationConfig config;
        final Listener listener;
        final long submitted = System.nanoTime();
        volatile boolean cancelled;
        boolean failed;
        int remaining;

        Job(String adapter, List<int[]> prompts, GenerationConfig config, Listener listener) {
            this.adapter = adapter;
            this.prompts = prompts;
            this.config = config;
            this.listener = listener;
            this.remaining = prompts.size();
        }

        void cancel() {
            cancelled = true;
        }
    }

    private static final class Seq {
        final Job job;
        final int index;
        final DecodingSequence state;
        ServedAdapter adapter;
        int slot = -1;
        long lastToken;

        Seq(Job job, int index, DecodingSequence state) {
            this.job = job;
            this.index = index;
            this.state = state;
        }
    }

    private final CausalLm model;
    private final Detokenizer detok;
    private final Kernels prefillKernels;
    private final RowInvariantKernels decodeKernels;
    private final AdapterRegistry adapters;
    private final ServerMetrics metrics;
    private final int maxBatch;
    private final int maxQueue;
    private final RoutedAdapter.Routing routing = new RoutedAdapter.Routing();
    private final DecodingCache cache;
    private final int[] freeSlots;
    private int freeCount;

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final ArrayDeque<Seq> waiting = new ArrayDeque<>();
    private final List<Seq> active = new ArrayList<>();
    private volatile int running;
    /** The most sequences, and the most distinct adapters, one decode step has run (for tests and logs). */
    volatile int widestStep;
    volatile int mostAdaptersInStep;
    private boolean draining;
    private boolean stopped;
    private final Thread thread;

    Scheduler(CausalLm model, Detokenizer detok, Kernels kernels, AdapterRegistry adapters, ServerMetrics metrics,
              int maxBatch, int maxQueue) {
        this.model = model;
        this.detok = detok;
        this.prefillKernels = kernels;
        this.decodeKernels = RowInvariantKernels.forDecode(kernels.threads());
        this.adapters = adapters;
        this.metrics = metrics;
        this.maxBatch = maxBatch;
        this.maxQueue = maxQueue;
        this.cache = model.newDecodingCache(maxBatch, model.maxPositions());
        this.freeSlots = new int[maxBatch];
        for (int i = 0; i < maxBatch; i++) {
            freeSlots[i] = maxBatch - 1 - i;
        }
        this.freeCount = maxBatch;
        List<LinearModule> modules = model.linearModules();
        for (int i = 0; i < modules.size(); i++) {
            LinearModule m = modules.get(i);
            m.setAdapter(new RoutedAdapter(i, m.in(), m.out(), routing));
        }
        thread = new Thread(this::loop, "dynalora-scheduler");
        thread.setDaemon(true);
        thread.start();
    }

    /** Sequences waiting to start. */
    int queueLength() {
        lock.lock();
        try {
            return waiting.size();
        } finally {
            lock.unlock();
        }
    }

    /** Sequences in flight. */
    int running() {
        return running;
    }

    /**
     * Queues a request's prompts.
     *
     * @throws ApiException 429 when the queue has no room for them, 503 while shutting down
     */
    void submit(Job job) {
        List<Seq> seqs = new ArrayList<>(job.prompts.size());
        for (int i = 0; i < job.prompts.size(); i++) {
            seqs.add(new Seq(job, i, new DecodingSequence(model, detok, job.prompts.get(i), job.config, i)));
        }
        lock.lock();
        try {
            if (draining || stopped) {
                throw new ApiException(503, "server_error", "the server is shutting down", null, "shutting_down");
            }
            if (waiting.size() + seqs.size() > maxQueue) {
                throw new ApiException(429, "rate_limit_error", "the server's queue is full (" + waiting.size() + " of "
                        + maxQueue + " prompts waiting); retry later", null, "queue_full");
            }
            waiting.addAll(seqs);
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Stops taking requests, lets the queued and running ones finish for up to {@code graceMillis}, then fails
     * whatever is left (503) and stops the thread. Returns whether everything finished in time.
     */
    boolean drain(long graceMillis) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(graceMillis);
        lock.lock();
        try {
            draining = true;
            while (!(waiting.isEmpty() && running == 0)) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    break;
                }
                changed.awaitNanos(left);
            }
            boolean clean = waiting.isEmpty() && running == 0;
            stopped = true;
            changed.signalAll();
            return clean;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            stopped = true;
            changed.signalAll();
            return false;
        } finally {
            lock.unlock();
            try {
                thread.join(30_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Override
    public void close() {
        drain(0);
    }

    private void loop() {
        ApiException shutdown = new ApiException(503, "server_error", "the server shut down before this request finished",
                null, "shutting_down");
        while (true) {
            lock.lock();
            try {
                while (!stopped && waiting.isEmpty() && active.isEmpty()) {
                    changed.awaitUninterruptibly();
                }
                if (stopped) {
                    for (Seq s : waiting) {
                        fail(s.job, shutdown);
                    }
                    waiting.clear();
                    break;
                }
            } finally {
                lock.unlock();
            }
            try {
                admit();
                if (!active.isEmpty()) {
                    decodeStep();
                }
            } catch (RuntimeException | Error e) {
                // A failure inside the model is a bug, not the clients' doing: fail what was in flight, keep serving.
                ApiException err = new ApiException(500, "server_error", "internal error: " + e, null, null);
                for (Seq s : new ArrayList<>(active)) {
                    fail(s.job, err);
                    retire(s);
                }
                System.err.println("dynalora serve: internal error in a forward pass: " + e);
                e.printStackTrace();
            }
            signalProgress();
        }
        for (Seq s : new ArrayList<>(active)) {
            fail(s.job, shutdown);
            retire(s);
        }
        signalProgress();
        decodeKernels.close();
    }

    private void signalProgress() {
        lock.lock();
        try {
            running = active.size();
            metrics.setQueue(waiting.size(), running);
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Starts waiting sequences while slots are free: each prompt prefilled alone (see the class comment). */
    private void admit() {
        while (freeCount > 0) {
            Seq s;
            lock.lock();
            try {
                s = waiting.peekFirst();
                if (s == null) {
                    return;
                }
                if (s.job.cancelled || s.job.failed) {
                    waiting.pollFirst();
                    continue;
                }
            } finally {
                lock.unlock();
            }
            if (s.job.adapter != null) {
                try {
                    s.adapter = adapters.acquire(s.job.adapter);
                } catch (ApiException e) {
                    lock.lock();
                    try {
                        waiting.pollFirst();
                    } finally {
                        lock.unlock();
                    }
                    fail(s.job, e);
                    continue;
                }
                if (s.adapter == null) {
                    return; // every loaded adapter is in use: wait for a sequence to finish
                }
            }
            lock.lock();
            try {
                waiting.pollFirst();
                // Counted as running from here, while the lock is held: a drain that looks between this and the
                // next signalProgress must not see an empty queue and nothing running and close on it.
                running = running + 1;
            } finally {
                lock.unlock();
            }
            start(s);
        }
    }

    private void start(Seq s) {
        if (s.state.promptFillsContext()) {
            String rest = s.state.finishWithoutTokens();
            retire(s);
            finish(s, rest);
            return;
        }
        s.slot = freeSlots[--freeCount];
        active.add(s);
        cache.clear(s.slot);
        routing.set(new ServedAdapter[] {s.adapter}, new int[] {s.state.prompt().length}, 1);
        float[] logits = model.forwardCached(prefillKernels, cache, new int[] {s.slot}, new int[][] {s.state.prompt()});
        metrics.promptTokens(s.state.prompt().length);
        accept(s, logits, 0);
    }

    /** One token for every sequence in flight, in one forward pass, rows grouped by adapter. */
    private void decodeStep() {
        List<Seq> step = new ArrayList<>(active);
        Map<ServedAdapter, Integer> order = new IdentityHashMap<>();
        for (Seq s : step) {
            order.putIfAbsent(s.adapter, order.size());
        }
        step.sort(Comparator.comparingInt(s -> order.get(s.adapter)));
        int n = step.size();
        int[] slots = new int[n];
        int[][] tokens = new int[n][];
        ServedAdapter[] rowAdapters = new ServedAdapter[n];
        int[] rows = new int[n];
        for (int i = 0; i < n; i++) {
            Seq s = step.get(i);
            slots[i] = s.slot;
            tokens[i] = new int[] {s.state.last()};
            rowAdapters[i] = s.adapter;
            rows[i] = 1;
        }
        routing.set(rowAdapters, rows, n);
        widestStep = Math.max(widestStep, n);
        mostAdaptersInStep = Math.max(mostAdaptersInStep, order.size());
        float[] logits = model.forwardCached(decodeKernels, cache, slots, tokens);
        int vocab = model.vocabSize();
        for (int i = 0; i < n; i++) {
            accept(step.get(i), logits, i * vocab);
        }
    }

    private void accept(Seq s, float[] logits, int off) {
        if (s.job.cancelled || s.job.failed) {
            retire(s);
            return;
        }
        String text = s.state.accept(logits, off);
        long now = System.nanoTime();
        if (s.state.generated() == 1) {
            metrics.timeToFirstToken(now - s.job.submitted);
        } else {
            metrics.timePerOutputToken(now - s.lastToken);
        }
        s.lastToken = now;
        metrics.generatedTokens(1);
        int g = s.state.generated();
        Completion c = null;
        float lp = Float.NaN;
        TopLogprobs top = null;
        if (s.job.config.logprobs() > 0) {
            c = s.state.completion();
            lp = s.state.chosenLogprobs()[g - 1];
            top = c.topLogprobs().get(g - 1);
        }
        int token = s.state.last();
        if (s.state.finishReason() == null) {
            s.job.listener.onToken(s.index, token, text, lp, top);
        } else {
            // The final token's text and whatever was held back arrive together with the end.
            s.job.listener.onToken(s.index, token, "", lp, top);
            retire(s);
            finish(s, text);
        }
    }

    private void finish(Seq s, String rest) {
        Job j = s.job;
        if (j.failed) {
            return;
        }
        j.listener.onFinished(s.index, s.state.completion(), rest);
        j.remaining--;
    }

    private void fail(Job j, ApiException e) {
        if (!j.failed) {
            j.failed = true;
            j.listener.onError(e);
        }
    }

    /** Frees a sequence's slot and adapter. */
    private void retire(Seq s) {
        if (active.remove(s)) {
            freeSlots[freeCount++] = s.slot;
        }
        if (s.adapter != null) {
            adapters.release(s.adapter);
            s.adapter = null;
        }
    }
}
