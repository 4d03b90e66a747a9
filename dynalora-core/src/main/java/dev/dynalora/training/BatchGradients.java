package dev.dynalora.training;

import dev.dynalora.kernels.Kernels;
import dev.dynalora.tensor.Param;

import java.util.List;

/**
 * How a training step turns its batch into the gradient the optimizer applies: the one place where the
 * {@link Trainer} meets data parallelism, so that the loop itself knows nothing of workers.
 *
 * <p>A batch of L examples is cut into N contiguous shards ({@link #from}); shard s's gradient g_s is
 * computed from zeroed gradients ({@link Objective#lossAndGradients(Kernels, int[], int, int, long, long)}: the
 * whole batch's padding, dropout masks and loss denominator), and the step's gradient is the sum in shard
 * order, ((g_0 + g_1) + g_2) + ..., started from g_0 itself ({@link Sum}); the loss likewise. {@link #local}
 * computes the shards one after another in one process (TrainConfig's {@code shards}); dynalora-spark's
 * implementation computes shard = its rank on each of N workers and all-gathers the others, and both add the
 * very same float arrays in the very same order through {@link Sum}, so the two runs take bit-identical
 * optimizer steps. With one shard the step is the whole-batch computation, unchanged.
 */
public interface BatchGradients {
    /**
     * Leaves the step's summed gradient in every parameter's grad and returns the step's loss (the shards'
     * parts summed in order) and tokens computed (all shards').
     */
    Objective.Loss compute(Kernels k, Objective objective, List<Param> params, int[] batch, long seed, long step);

    /** The first example of shard s of n over a batch of len examples (shard s is [from(s), from(s + 1))). */
    static int from(int s, int n, int len) {
        return (int) ((long) s * len / n);
    }

    /** Shards computed one after another in this process; 1 is the plain whole-batch step. */
    static BatchGradients local(int shards) {
        if (shards < 1) {
            throw new IllegalArgumentException("shards must be >= 1, got " + shards);
        }
        if (shards == 1) {
            return (k, objective, params, batch, seed, step) -> {
                for (Param q : params) {
                    q.zeroGrad();
                }
                return objective.lossAndGradients(k, batch, seed, step);
            };
        }
        return new BatchGradients() {
            private final Sum sum = new Sum();

            @Override
            public Objective.Loss compute(Kernels k, Objective objective, List<Param> params, int[] batch, long seed,
                                          long step) {
                sum.reset(params);
                for (int s = 0; s < shards; s++) {
                    sum.add(params, shard(k, objective, params, batch, s, shards, seed, step));
                }
                return sum.finish(params);
            }
        };
    }

    /**
     * Shard s of n of the batch from zeroed gradients: its loss and tokens; its gradient is left in the
     * parameters' grads. An empty shard (a batch shorter than n) computes nothing: zero gradient and loss.
     */
    static Objective.Loss shard(Kernels k, Objective objective, List<Param> params, int[] batch, int s, int n, long seed,
                                long step) {
        for (Param q : params) {
            q.zeroGrad();
        }
        int a = from(s, n, batch.length);
        int e = from(s + 1, n, batch.length);
        if (a == e) {
            return new Objective.Loss(0f, 0);
        }
        return objective.lossAndGradients(k, batch, a, e, seed, step);
    }

    /** Flattens the parameters' gradients, in list order, into one array (what a worker sends). */
    static float[] flatGradients(List<Param> params) {
        long n = 0;
        for (Param p : params) {
            n += p.grad().length;
        }
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException(n + " trainable values do not fit one array");
        }
        float[] flat = new float[(int) n];
        int off = 0;
        for (Param p : params) {
            float[] g = p.grad();
            System.arraycopy(g, 0, flat, off, g.length);
            off += g.length;
        }
        return flat;
    }

    /**
     * The ordered sum of the shards' gradients and losses. The first shard added is copied, each later one added
     * element by element (float additions, in the order added), and {@link #finish} writes the sum into the
     * parameters' grads. Local shards and all-gathered ones go through this same code.
     */
    final class Sum {
        private float[] acc = new float[0];
        private int added;
        private float loss;
        private long tokens;

        /** Starts a step's sum for these parameters. */
        public void reset(List<Param> params) {
            long n = 0;
            for (Param p : params) {
                n += p.grad().length;
            }
            if (acc.length != n) {
                acc = new float[(int) n];
            }
            added = 0;
            loss = 0f;
            tokens = 0;
        }

        /** Adds the shard whose gradient the parameters' grads hold now (the list given to reset). */
        public void add(List<Param> params, Objective.Loss shard) {
            addLoss(shard);
            int off = 0;
            for (Param p : params) {
                float[] g = p.grad();
                accumulate(g, 0, off, g.length);
                off += g.length;
            }
            added++;
        }

        /** Adds a shard given as a flat gradient ({@link #flatGradients} of its worker) with its loss and tokens. */
        public void add(float[] flat, Objective.Loss shard) {
            if (flat.length != acc.length) {
                throw new IllegalArgumentException("a shard's gradient has " + flat.length + " values, expected " + acc.length);
            }
            addLoss(shard);
            accumulate(flat, 0, 0, flat.length);
            added++;
        }

        private void addLoss(Objective.Loss shard) {
            loss = added == 0 ? shard.loss() : loss + shard.loss();
            tokens += shard.tokens();
        }

        private void accumulate(float[] g, int from, int off, int n) {
            if (added == 0) {
                System.arraycopy(g, from, acc, off, n);
            } else {
                for (int i = 0; i < n; i++) {
                    acc[off + i] += g[from + i];
                }
            }
        }

        /** Writes the sum into the parameters' grads; returns the summed loss and tokens. */
        public Objective.Loss finish(List<Param> params) {
            int off = 0;
            for (Param p : params) {
                float[] g = p.grad();
                System.arraycopy(acc, off, g, 0, g.length);
                off += g.length;
            }
            return new Objective.Loss(loss, tokens);
        }
    }
}
