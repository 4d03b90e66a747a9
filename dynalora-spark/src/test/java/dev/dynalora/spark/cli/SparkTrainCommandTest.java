package dev.dynalora.spark.cli;

import dev.dynalora.cli.Main;
import dev.dynalora.spark.DynaloraSpark;
import dev.dynalora.spark.Fixtures;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.training.RunFolder;
import dev.dynalora.training.TrainConfig;
import dev.dynalora.training.Trainer;
import dev.dynalora.training.TrainingInterruptedException;
import dev.dynalora.training.TrainingListener;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * dynalora spark train end to end, in-process: train's flags and run folder, the adapter of train --shards 2 bit
 * for bit, --resume of a run that stopped at a checkpoint, and the workers/shards mistakes.
 */
class SparkTrainCommandTest {
    @AfterAll
    static void clear() {
        DynaloraSpark.clearCache();
    }

    static String[] trainFlags(Path out, String... more) {
        List<String> a = new ArrayList<>(List.of("--model", Fixtures.tinyModel().toString(), "--task", "sst2", "--data",
                Fixtures.glue().toString(), "--out", out.toString(), "--limit", "40", "--eval-limit", "8", "--epochs", "2",
                "--batch", "16", "--max-len", "32", "--lr", "1e-2", "--seed", "5", "--lora-dropout", "0.1",
                "--save-every", "2"));
        a.addAll(Arrays.asList(more));
        return a.toArray(new String[0]);
    }

    static String[] concat(String[] a, String... b) {
        List<String> l = new ArrayList<>(Arrays.asList(a));
        l.addAll(Arrays.asList(b));
        return l.toArray(new String[0]);
    }

    @Test
    void trainsTheAdapterOfTrainShardsTwoAndResumes() throws Exception {
        Path viaSpark = Fixtures.dir().resolve("cli-spark-train");
        Fixtures.Result r = Fixtures.run(SparkMain.commandLine(), concat(new String[] {"spark", "train", "--master",
                "local[2]", "--workers", "2"}, trainFlags(viaSpark)));
        assertEquals(0, r.exit(), r.err());
        Path local = Fixtures.dir().resolve("cli-train-shards2");
        Fixtures.Result t = Fixtures.run(Main.commandLine(), concat(new String[] {"train"},
                trainFlags(local, "--shards", "2", "--threads", "2")));
        assertEquals(0, t.exit(), t.err());
        assertArrayEquals(Files.readAllBytes(local.resolve(RunFolder.TRAINABLE)),
                Files.readAllBytes(viaSpark.resolve(RunFolder.TRAINABLE)), "trainable.safetensors, byte for byte");
        assertArrayEquals(Files.readAllBytes(local.resolve("adapter_model.safetensors")),
                Files.readAllBytes(viaSpark.resolve("adapter_model.safetensors")), "the PEFT adapter, byte for byte");
        assertEquals(2, new RunFolder(viaSpark).readConfig().shards());

        // The same run stopped after its 3rd step (as by Ctrl-C: a checkpoint of that step) and continued by
        // spark train --resume ends where the uninterrupted runs did.
        Path cut = RunFolder.create(Fixtures.dir().resolve("cli-spark-cut"), false).dir();
        TrainConfig c = new RunFolder(local).readConfig();
        int[] asked = {0};
        TrainingListener stopAfterThree = new TrainingListener() {
            @Override
            public boolean stopRequested() {
                return ++asked[0] == 3;
            }
        };
        try (CpuKernels k = new CpuKernels(1)) {
            new Trainer(c, k, stopAfterThree).run(new RunFolder(cut), Trainer.Setup.of(c));
            throw new AssertionError("the run did not stop");
        } catch (TrainingInterruptedException expected) {
            assertTrue(new RunFolder(cut).hasCheckpoint());
        }
        Fixtures.Result again = Fixtures.run(SparkMain.commandLine(), "spark", "train", "--master", "local[2]",
                "--workers", "2", "--resume", "--out", cut.toString());
        assertEquals(0, again.exit(), again.err());
        assertArrayEquals(Files.readAllBytes(local.resolve(RunFolder.TRAINABLE)),
                Files.readAllBytes(cut.resolve(RunFolder.TRAINABLE)), "stopped, resumed on Spark vs uninterrupted");

        SparkPredictCommandTest.assertOneLineError(Fixtures.run(SparkMain.commandLine(), "spark", "train", "--master",
                "local[2]", "--workers", "3", "--resume", "--out", cut.toString()), "resume it with --workers 2");
        SparkPredictCommandTest.assertOneLineError(Fixtures.run(SparkMain.commandLine(), concat(new String[] {"spark",
                "train", "--master", "local[2]", "--workers", "2"}, trainFlags(Fixtures.dir().resolve("never"),
                "--shards", "3"))), "--shards 3 differs from --workers 2");
        SparkPredictCommandTest.assertOneLineError(Fixtures.run(SparkMain.commandLine(), concat(new String[] {"spark",
                "train", "--master", "local[2]", "--workers", "3"}, trainFlags(Fixtures.dir().resolve("never2")))),
                "task slots");
    }
}
