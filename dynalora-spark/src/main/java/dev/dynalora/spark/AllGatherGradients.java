package dev.dynalora.spark;

import dev.dynalora.kernels.Kernels;
import dev.dynalora.tensor.Param;
import dev.dynalora.training.BatchGradients;
import dev.dynalora.training.Objective;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Base64;
import java.util.List;

/**
 * A data-parallel worker's step gradient: this worker (rank r of n, a task of the barrier stage) computes shard r
 * of the batch from zeroed gradients, all-gathers every worker's shard (its flattened gradient, loss and tokens)
 * and sums them in rank order through {@link BatchGradients.Sum}, the very code {@code train --shards n} sums its
 * shards with. Every worker thus ends the step with the same float arrays, takes the same AdamW step and holds
 * the same weights, bit for bit, as the single-process sharded run.
 *
 * <p>Why an all-gather and not an all-reduce: BarrierTaskContext's allGather is the one collective Spark offers
 * (a tree or ring all-reduce would be home-made cluster code), and summing the gathered shards on every worker
 * in rank order fixes the order of the float additions, which is what makes the result independent of timing.
 * Each message goes through the driver: per step every worker sends 4 bytes per trainable value (Base64: 5.3)
 * and receives n times that; for LoRA on a small encoder (tens to hundreds of thousands of values) a few MB.
 */
final class AllGatherGradients implements BatchGradients {
    private final int rank;
    private final int workers;
    private final Gather gather;
    private final Sum sum = new Sum();

    /** Sends this worker's message and returns every worker's, indexed by rank. */
    interface Gather {
        String[] all(String mine);
    }

    /**
     * @param gather BarrierTaskContext's allGather (its answer is ordered by partition id, the rank), or a
     *               stand-in in tests
     */
    AllGatherGradients(int rank, int workers, Gather gather) {
        if (rank < 0 || rank >= workers) {
            throw new IllegalArgumentException("rank " + rank + " of " + workers + " workers");
        }
        this.rank = rank;
        this.workers = workers;
        this.gather = gather;
    }

    @Override
    public Objective.Loss compute(Kernels k, Objective objective, List<Param> params, int[] batch, long seed, long step) {
        Objective.Loss mine = BatchGradients.shard(k, objective, params, batch, rank, workers, seed, step);
        String[] all = gather.all(encode(mine, BatchGradients.flatGradients(params)));
        if (all.length != workers) {
            throw new IllegalStateException("all-gather returned " + all.length + " messages for " + workers + " workers");
        }
        sum.reset(params);
        for (String m : all) {
            Shard s = decode(m);
            sum.add(s.gradient(), s.loss());
        }
        return sum.finish(params);
    }

    /** One worker's message: its shard's loss, tokens and flattened gradient. */
    record Shard(Objective.Loss loss, float[] gradient) {
    }

    /** loss (float), tokens (long), count (int), the floats; little-endian, Base64 (allGather takes a String). */
    static String encode(Objective.Loss loss, float[] gradient) {
        ByteBuffer b = ByteBuffer.allocate(16 + 4 * gradient.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putFloat(loss.loss()).putLong(loss.tokens()).putInt(gradient.length);
        b.asFloatBuffer().put(gradient);
        return Base64.getEncoder().encodeToString(b.array());
    }

    static Shard decode(String message) {
        ByteBuffer b = ByteBuffer.wrap(Base64.getDecoder().decode(message)).order(ByteOrder.LITTLE_ENDIAN);
        float loss = b.getFloat();
        long tokens = b.getLong();
        float[] g = new float[b.getInt()];
        b.asFloatBuffer().get(g);
        return new Shard(new Objective.Loss(loss, tokens), g);
    }
}
