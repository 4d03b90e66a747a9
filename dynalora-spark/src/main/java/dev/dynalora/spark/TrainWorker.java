package dev.dynalora.spark;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.UserInputException;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.tensor.Param;
import dev.dynalora.training.BatchGradients;
import dev.dynalora.training.Objective;
import dev.dynalora.training.RunFolder;
import dev.dynalora.training.TrainConfig;
import dev.dynalora.training.Trainer;
import dev.dynalora.training.TrainingDivergedException;
import org.apache.spark.BarrierTaskContext;
import scala.collection.Iterator;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.AbstractFunction1;

import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * One worker of a data-parallel training run: a task of the barrier stage that {@link DynaloraSpark#train} starts,
 * rank = its partition id. It builds the run's model, method and data from the configuration exactly as
 * {@code train --resume} does ({@link Trainer.Setup#of}), in its own copy, and runs the same {@link Trainer} loop
 * as every other worker with {@link AllGatherGradients}: every step it computes its shard of the batch, gathers
 * the others' and sums them in rank order, so all workers hold the same weights throughout. Rank 0 is the leader
 * and writes the run folder; the others train on its {@link RunFolder#follower()} view and write nothing.
 *
 * <p>Every worker starts from the folder's checkpoint when it has one (the leader's decision, all-gathered first,
 * so all agree), so a barrier stage that Spark retries after a lost task resumes where the last checkpoint was.
 * A user error while building the run (any worker's, all-gathered with that decision) or a divergence (the same
 * on every worker) is answered as a result, not thrown: retrying would only repeat it.
 */
final class TrainWorker extends AbstractFunction1<Iterator<Integer>, Iterator<String>> implements Serializable {
    private static final long serialVersionUID = 1L;
    static final ObjectMapper JSON = new ObjectMapper();

    /** What a worker answers: the leader the run's summary (JSON), or every worker the error that stopped it. */
    static final String SUMMARY = "summary\t";
    static final String ERROR = "error\t";

    /** Test hook: called by every worker before each step's gradient (stage attempt, rank, step); may throw. */
    interface StepHook {
        void beforeStep(int stageAttempt, int rank, long step);
    }

    static volatile StepHook beforeStep;

    private final String config;
    private final String runDir;
    private final int workers;

    TrainWorker(TrainConfig config, Path runDir, int workers) {
        try {
            this.config = JSON.writeValueAsString(config);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        this.runDir = runDir.toString();
        this.workers = workers;
    }

    @Override
    public Iterator<String> apply(Iterator<Integer> ignored) {
        BarrierTaskContext ctx = BarrierTaskContext.get();
        int rank = ctx.partitionId();
        int stageAttempt = ctx.stageAttemptNumber();
        RunFolder folder = new RunFolder(Path.of(runDir));
        TrainConfig c = null;
        Trainer.Setup setup = null;
        String problem = null;
        try {
            c = JSON.readValue(config, TrainConfig.class);
            setup = Trainer.Setup.of(c);
        } catch (UserInputException e) {
            problem = e.getMessage();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        // One all-gather before training: whether every worker could build the run (a worker that stopped here
        // alone would leave the others waiting in their first all-gather for good), and whether the leader sees a
        // checkpoint to resume from (it is never deleted, so the followers find it too).
        String[] ready = PromptGather.allGather(ctx, (problem == null ? "ok\t" : "error\t") + folder.hasCheckpoint()
                + "\t" + (problem == null ? "" : problem));
        for (String r : ready) {
            String[] f = r.split("\t", 3);
            if (f[0].equals("error")) {
                // A user error (a missing file, a bad setting): answered once, not retried (it would recur).
                return answer(rank, ERROR + f[2]);
            }
        }
        boolean resume = Boolean.parseBoolean(ready[0].split("\t", 3)[1]);
        RunFolder run = rank == 0 ? folder : folder.follower();
        if (!resume) {
            // A retried attempt that had not reached a checkpoint starts over: drop what it logged.
            run.truncate(RunFolder.METRICS, 0);
            run.truncate(RunFolder.ALLOCATION, 0);
        }
        AllGatherGradients gathered = new AllGatherGradients(rank, workers, m -> PromptGather.allGather(ctx, m));
        StepHook hook = beforeStep;
        BatchGradients gradients = hook == null ? gathered : new BatchGradients() {
            @Override
            public Objective.Loss compute(Kernels k, Objective objective, List<Param> params, int[] batch, long seed,
                                          long step) {
                hook.beforeStep(stageAttempt, rank, step);
                return gathered.compute(k, objective, params, batch, seed, step);
            }
        };
        Map<String, Object> summary;
        try (CpuKernels k = new CpuKernels(c.threads())) {
            Trainer trainer = new Trainer(c, k, null, gradients);
            summary = resume ? trainer.resume(run, setup) : trainer.run(run, setup);
        } catch (TrainingDivergedException e) {
            // Every worker holds the same state and so diverges at the same step: one answer, no retry. Any
            // other failure (a worker's own: a lost executor, a disk error on the leader) is thrown, so that
            // Spark stops the whole barrier stage (no worker is left waiting in an all-gather) and retries it.
            return answer(rank, ERROR + e.getMessage());
        }
        try {
            return answer(rank, SUMMARY + JSON.writeValueAsString(summary));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Iterator<String> answer(int rank, String answer) {
        return CollectionConverters.asScala(rank == 0 ? List.of(answer).iterator() : List.<String>of().iterator());
    }
}
