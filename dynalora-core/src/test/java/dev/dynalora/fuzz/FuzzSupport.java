package dev.dynalora.fuzz;

import dev.dynalora.UserInputException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What every fuzz target in this package checks: reading hostile bytes either succeeds or fails with a
 * {@link UserInputException} whose message is one short line. Anything else that escapes the target (another
 * RuntimeException, an Error such as OutOfMemoryError or StackOverflowError, an AssertionError from a property
 * check) is a finding: Jazzer saves the input under {@code src/test/resources/dev/dynalora/fuzz/<Class>Inputs/<method>/}
 * and a plain {@code mvn test} replays it from then on. See docs/fuzzing.md.
 */
final class FuzzSupport {
    /** Generous: the messages name a temporary path (~60 chars) and quote at most ~120 chars of the input. */
    static final int MAX_MESSAGE_CHARS = 1_000;

    private static Path dir;

    /** The message of the UserInputException the last input on this thread ended with, or null if it succeeded. */
    static final ThreadLocal<String> LAST_ERROR = new ThreadLocal<>();

    private FuzzSupport() {
    }

    interface Body {
        void run() throws Exception;
    }

    /** Runs {@code body}; a UserInputException with a one-line message is an allowed outcome, nothing else is. */
    static void allowUserError(Body body) {
        LAST_ERROR.remove();
        try {
            body.run();
        } catch (UserInputException e) {
            LAST_ERROR.set(e.getMessage());
            checkMessage(e);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Exception e) {
            throw new AssertionError("checked exception escaped: " + e, e);
        }
    }

    static void checkMessage(UserInputException e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) {
            throw new AssertionError("UserInputException without a message", e);
        }
        if (m.indexOf('\n') >= 0 || m.indexOf('\r') >= 0) {
            throw new AssertionError("UserInputException message is not one line: " + m.replace("\n", "\\n")
                    .replace("\r", "\\r"), e);
        }
        if (m.length() > MAX_MESSAGE_CHARS) {
            throw new AssertionError("UserInputException message has " + m.length() + " chars: "
                    + m.substring(0, 200) + "...", e);
        }
    }

    /** One scratch folder per JVM, reused by every input (fuzzing runs thousands of inputs a second). */
    static synchronized Path scratch() {
        if (dir == null) {
            try {
                dir = Files.createTempDirectory("dynalora-fuzz");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            Path d = dir;
            Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(d)));
        }
        return dir;
    }

    /** Writes {@code bytes} to {@code scratch()/name}, replacing what an earlier input left there. */
    static Path write(String name, byte[] bytes) {
        Path p = scratch().resolve(name);
        try {
            if (p.getParent() != null) {
                Files.createDirectories(p.getParent());
            }
            Files.write(p, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return p;
    }

    /** The index of the first 0 byte, or -1: the targets that take two files split their input there. */
    static int firstZero(byte[] data) {
        for (int i = 0; i < data.length; i++) {
            if (data[i] == 0) {
                return i;
            }
        }
        return -1;
    }

    private static void deleteTree(Path d) {
        try (var s = Files.walk(d)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | UncheckedIOException ignored) {
            // best effort at exit
        }
    }
}
