package dev.dynalora.spark.cli;

import dev.dynalora.cli.Main;
import dev.dynalora.spark.DynaloraSpark;
import dev.dynalora.spark.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** dynalora spark predict end to end, in-process: the file dynalora predict writes, and predict's user errors. */
class SparkPredictCommandTest {
    @AfterAll
    static void clear() {
        DynaloraSpark.clearCache();
    }

    @Test
    void writesTheFileThatPredictWrites() throws Exception {
        Path run = Fixtures.sst2Run();
        Path test = Fixtures.dir().resolve("cli-test-25.tsv");
        Files.write(test, Fixtures.sst2TestLines(25));
        Path viaSpark = Fixtures.dir().resolve("spark-pred.tsv");
        Path viaPredict = Fixtures.dir().resolve("pred.tsv");
        Fixtures.Result r = Fixtures.run(SparkMain.commandLine(), "spark", "predict", "--master", "local[2]",
                "--run", run.toString(), "--input", test.toString(), "--output", viaSpark.toString(), "--partitions", "3");
        assertEquals(0, r.exit(), r.err());
        Fixtures.Result p = Fixtures.run(Main.commandLine(), "predict", "--run", run.toString(), "--input", test.toString(),
                "--output", viaPredict.toString(), "--threads", "2");
        assertEquals(0, p.exit(), p.err());
        assertEquals(Files.readString(viaPredict), Files.readString(viaSpark));
        assertEquals(26, Files.readAllLines(viaSpark).size());

        // Like predict: an existing file is kept without --overwrite, and an input is never the output.
        Fixtures.Result again = Fixtures.run(SparkMain.commandLine(), "spark", "predict", "--master", "local[2]",
                "--run", run.toString(), "--input", test.toString(), "--output", viaSpark.toString());
        assertOneLineError(again, "already exists");
        Fixtures.Result ontoInput = Fixtures.run(SparkMain.commandLine(), "spark", "predict", "--run", run.toString(),
                "--input", test.toString(), "--output", test.toString(), "--overwrite");
        assertOneLineError(ontoInput, "is an input of this command");
    }

    @Test
    void badInputIsOneLineAndExitTwo() throws Exception {
        Path run = Fixtures.sst2Run();
        Path out = Fixtures.dir().resolve("never.tsv");
        assertOneLineError(Fixtures.run(SparkMain.commandLine(), "spark", "predict", "--master", "local[2]", "--run",
                run.toString(), "--input", Fixtures.dir().resolve("missing.tsv").toString(), "--output", out.toString()),
                "missing");
        Path wrong = Fixtures.glue().resolve("MRPC/test.tsv");
        assertOneLineError(Fixtures.run(SparkMain.commandLine(), "spark", "predict", "--run", run.toString(), "--input",
                wrong.toString(), "--output", out.toString()), "expected 2 for sst2 test");
        assertOneLineError(Fixtures.run(SparkMain.commandLine(), "spark", "predict", "--run", Fixtures.dir().toString(),
                "--input", wrong.toString(), "--output", out.toString()), "not a dynalora run folder");
        Path test = Fixtures.dir().resolve("cli-test-3.tsv");
        Files.write(test, Fixtures.sst2TestLines(3));
        assertOneLineError(Fixtures.run(SparkMain.commandLine(), "spark", "predict", "--master", "nowhere", "--run",
                run.toString(), "--input", test.toString(), "--output", out.toString()), "cannot start Spark with --master nowhere");
        assertOneLineError(Fixtures.run(SparkMain.commandLine(), "spark", "predict", "--run", run.toString()),
                "(see 'dynalora spark predict --help')");
        assertFalse(Files.exists(out));
    }

    static void assertOneLineError(Fixtures.Result r, String expected) {
        assertEquals(2, r.exit(), r.err());
        String err = r.err().strip();
        assertTrue(err.startsWith("dynalora: error: ") && !err.contains("\n") && err.contains(expected), err);
    }

    @Test
    void argumentsWithoutSparkAreASparkCommands() {
        assertEquals("spark", SparkMain.withSpark(new String[] {"predict", "--help"})[0]);
        assertEquals(2, SparkMain.withSpark(new String[] {"predict", "--help"}).length - 1);
        assertEquals(1, SparkMain.withSpark(new String[] {"spark"}).length);
    }
}
