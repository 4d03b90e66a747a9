package dev.dynalora.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;

import static dev.dynalora.cli.BadInputTest.assertUserError;

/** dynalora serve's mistakes: one line and exit code 2 before anything listens (the server's own tests are in dynalora-serve). */
class ServeCommandTest {
    static String stories260K() {
        return Path.of(System.getProperty("dynalora.shared", "../../shared")).resolve("models/stories260K").toString();
    }

    @Test
    void anAdapterWithoutAName() {
        assertUserError(CliRunner.run("serve", "--model", stories260K(), "--adapter", "/some/dir"), "NAME=DIR");
    }

    @Test
    void aMissingAdapterFolder(@TempDir Path dir) {
        assertUserError(CliRunner.run("serve", "--model", stories260K(), "--adapter", "a=" + dir.resolve("gone"), "--port", "0"), "gone");
    }

    @Test
    void anEncoderTakesNoAdapters(@TempDir Path dir) {
        assertUserError(CliRunner.run("serve", "--model", CliRunner.miniLm().toString(), "--port", "0", "--adapter", "a=" + dir),
                "is an encoder");
    }

    @Test
    void aBadPortOrRootOrBatch(@TempDir Path dir) {
        assertUserError(CliRunner.run("serve", "--model", stories260K(), "--port", "70000"), "--port");
        assertUserError(CliRunner.run("serve", "--model", stories260K(), "--port", "0", "--adapter-root", dir.resolve("no").toString()), "--adapter-root");
        assertUserError(CliRunner.run("serve", "--model", stories260K(), "--port", "0", "--max-batch", "0"), "--max-batch");
        assertUserError(CliRunner.run("serve", "--model", stories260K(), "--port", "0", "--max-loaded-adapters", "0"), "--max-loaded-adapters");
    }

    @Test
    void aChatTemplateThatIsNotThereOrForAnEncoder(@TempDir Path dir) throws Exception {
        assertUserError(CliRunner.run("serve", "--model", stories260K(), "--port", "0", "--chat-template",
                dir.resolve("gone.jinja").toString()), "--chat-template");
        Path t = java.nio.file.Files.writeString(dir.resolve("t.jinja"), "{{ messages[0].content }}");
        assertUserError(CliRunner.run("serve", "--model", CliRunner.miniLm().toString(), "--port", "0", "--chat-template",
                t.toString()), "--chat-template needs a causal language model");
    }

    @Test
    void classifierMistakes(@TempDir Path dir) {
        assertUserError(CliRunner.run("serve", "--port", "0"), "--classifier NAME=RUN_DIR");
        assertUserError(CliRunner.run("serve", "--classifier", dir.toString()), "NAME=RUN_DIR");
        assertUserError(CliRunner.run("serve", "--port", "0", "--classifier", "c=" + dir.resolve("gone")), "gone");
        assertUserError(CliRunner.run("serve", "--port", "0", "--classifier", "c=" + dir), dir.toString());
        assertUserError(CliRunner.run("serve", "--port", "0", "--classifier", "c=" + dir, "--adapter", "a=" + dir), "--model");
    }

    @Test
    void aPortInUse() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            CliRunner.Result r = CliRunner.run("serve", "--model", stories260K(), "--port", Integer.toString(taken.getLocalPort()));
            // The tokenizer's native library logs its platform once per JVM in tests (bin/dynalora silences ai.djl).
            String err = String.join("\n", r.err().strip().lines().filter(l -> !l.startsWith("[main] WARN ai.djl")
                    && !l.startsWith("[main] INFO ai.djl")).toList());
            assertUserError(new CliRunner.Result(r.exit(), r.out(), err), "cannot listen");
        }
    }
}
