package dev.dynalora.spark.cli;

import dev.dynalora.cli.Main;
import dev.dynalora.spark.DynaloraSpark;
import dev.dynalora.spark.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/** dynalora spark generate end to end, in-process: byte for byte the file dynalora generate writes, and its errors. */
class SparkGenerateCommandTest {
    @AfterAll
    static void clear() {
        DynaloraSpark.clearCache();
    }

    static Path prompts() throws Exception {
        Path in = Fixtures.dir().resolve("cli-prompts.jsonl");
        StringBuilder b = new StringBuilder();
        for (String p : List.of("Once upon a time", "The little dog", "Lily and Ben", "One day", "The sun was",
                "Tom had a red ball", "In the park")) {
            b.append("{\"prompt\": \"").append(p).append("\"}\n");
        }
        b.append('\n'); // a blank line, skipped by both
        Files.writeString(in, b);
        return in;
    }

    @Test
    void writesTheFileThatGenerateWrites() throws Exception {
        Path model = Fixtures.shared().resolve("models/stories260K");
        Path in = prompts();
        for (List<String> sampling : List.of(List.<String>of(), List.of("--temperature", "0.9", "--top-k", "20", "--seed", "4"))) {
            Path viaSpark = Fixtures.dir().resolve("spark-gen.jsonl");
            Path viaGenerate = Fixtures.dir().resolve("gen.jsonl");
            List<String> common = new java.util.ArrayList<>(List.of("--model", model.toString(), "--input", in.toString(),
                    "--max-new-tokens", "20", "--overwrite"));
            common.addAll(sampling);
            List<String> spark = new java.util.ArrayList<>(List.of("spark", "generate", "--master", "local[2]",
                    "--output", viaSpark.toString(), "--partitions", "3", "--batch", "2"));
            spark.addAll(common);
            Fixtures.Result r = Fixtures.run(SparkMain.commandLine(), spark.toArray(String[]::new));
            assertEquals(0, r.exit(), r.err());
            List<String> gen = new java.util.ArrayList<>(List.of("generate", "--output", viaGenerate.toString(), "--threads", "1"));
            gen.addAll(common);
            Fixtures.Result g = Fixtures.run(Main.commandLine(), gen.toArray(String[]::new));
            assertEquals(0, g.exit(), g.err());
            String expected = Files.readString(viaGenerate);
            assertEquals(7, expected.lines().count());
            assertFalse(expected.contains("\"completion\":\"\""), "every prompt got a completion");
            assertEquals(expected, Files.readString(viaSpark));
            if (!sampling.isEmpty()) {
                assertNotEquals(Files.readString(Fixtures.dir().resolve("greedy-gen.jsonl")), expected,
                        "sampling changed the completions");
            } else {
                Files.copy(viaGenerate, Fixtures.dir().resolve("greedy-gen.jsonl"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }

    @Test
    void badInputIsOneLineAndExitTwo() throws Exception {
        Path model = Fixtures.shared().resolve("models/stories260K");
        Path out = Fixtures.dir().resolve("never.jsonl");
        Path bad = Fixtures.dir().resolve("bad-prompts.jsonl");
        Files.writeString(bad, "{\"prompt\": \"ok\"}\n{\"text\": \"no prompt\"}\n");
        SparkPredictCommandTest.assertOneLineError(Fixtures.run(SparkMain.commandLine(), "spark", "generate", "--master",
                "local[2]", "--model", model.toString(), "--input", bad.toString(), "--output", out.toString()),
                "line 2: no \"prompt\" key");
        Path longPrompt = Fixtures.dir().resolve("long-prompt.jsonl");
        Files.writeString(longPrompt, "{\"prompt\": \"Once\"}\n{\"prompt\": \"" + "word ".repeat(600) + "\"}\n");
        SparkPredictCommandTest.assertOneLineError(Fixtures.run(SparkMain.commandLine(), "spark", "generate", "--master",
                "local[2]", "--model", model.toString(), "--input", longPrompt.toString(), "--output", out.toString()),
                "row 2: the prompt in column prompt has");
        SparkPredictCommandTest.assertOneLineError(Fixtures.run(SparkMain.commandLine(), "spark", "generate", "--model",
                model.toString(), "--input", prompts().toString(), "--output", out.toString(), "--top-k", "5"),
                "--top-k and --top-p apply to sampling");
        assertFalse(Files.exists(out), "no output on an error");
    }
}
