package dev.dynalora.cli;

import dev.dynalora.ConfigException;
import dev.dynalora.Setting;
import dev.dynalora.UserMessage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The table from the library's settings to the CLI's flags is complete and names real options. */
class SettingFlagsTest {
    @Test
    void everySettingMapsToAnOptionOfTheCommandsItNames() throws IOException {
        CommandLine root = Main.commandLine();
        List<String> problems = new ArrayList<>();
        for (Setting s : Setting.values()) {
            SettingFlags.Flag f = SettingFlags.FLAGS.get(s);
            if (f == null) {
                problems.add(s + " (" + s.field() + ") has no flag");
                continue;
            }
            if (f.kind() == SettingFlags.Kind.ENVIRONMENT) {
                String launcher = Files.readString(Path.of("..", "bin", "dynalora"));
                if (!launcher.contains(f.name())) {
                    problems.add(s + ": bin/dynalora does not read " + f.name());
                }
                continue;
            }
            if (f.commands().isEmpty()) {
                problems.add(s + ": " + f.name() + " names no command");
            }
            for (String command : f.commands()) {
                CommandLine cl = root;
                for (String word : command.split(" ")) {
                    cl = cl == null ? null : cl.getSubcommands().get(word);
                }
                if (cl == null) {
                    problems.add(s + ": no command " + command);
                } else if (cl.getCommandSpec().findOption(f.name()) == null) {
                    problems.add(s + ": dynalora " + command + " has no option " + f.name());
                }
            }
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    @Test
    void settingsAreWrittenAsTheCommandLineWritesThem() {
        UserMessage m = UserMessage.of("use a smaller ", Setting.BATCH, " or ", Setting.MAX_LEN.is(64), ", train with ",
                Setting.GATE.is(false), " or ", Setting.GATE_PER_TOKEN.is(true), ", pass ", Setting.OVERWRITE,
                ", continue with: ", Setting.RESUME, " ", Setting.RUN_DIR.is(Path.of("/tmp/my run")),
                ", or raise the heap with ", Setting.JAVA_OPTIONS.is("-Xmx8g"));
        assertEquals("use a smaller --batch or --max-len 64, train with --no-gate or --gate-per-token, pass --overwrite,"
                + " continue with: dynalora train --resume --out '/tmp/my run', or raise the heap with"
                + " DYNALORA_JAVA_OPTS=-Xmx8g", m.render(SettingFlags::text));
        assertEquals("--lr must be a positive number, got -1",
                SettingFlags.message(new ConfigException(Setting.LR, "must be a positive number, got -1")));
    }

    @Test
    void aWrongValueIsReportedWithItsFlag(@TempDir Path dir) {
        CliRunner.Result r = CliRunner.run("train", "--model", CliRunner.miniLm().toString(), "--task", "mrpc",
                "--data", CliRunner.shared().resolve("glue").toString(), "--lr", "-1", "--out", dir.resolve("r").toString());
        assertEquals(2, r.exit(), r.err());
        assertEquals("dynalora: error: --lr must be a positive number, got -1.0", r.err().strip());
        r = CliRunner.run("train", "--model", CliRunner.miniLm().toString(), "--task", "mrpc",
                "--data", CliRunner.shared().resolve("glue").toString(), "--eval-limit", "-1", "--out", dir.resolve("r").toString());
        assertEquals("dynalora: error: --eval-limit must be >= 0 (0: all), got -1", r.err().strip());
        assertNotNull(SettingFlags.FLAGS.get(Setting.EVAL_LIMIT));
    }
}
