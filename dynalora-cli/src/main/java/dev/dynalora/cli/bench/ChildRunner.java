package dev.dynalora.cli.bench;

import dev.dynalora.UserInputException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs child processes to completion. Output goes to files, never to pipes, so a chatty child cannot fill a
 * pipe buffer and block; a shutdown hook stops the child when this JVM is interrupted (Ctrl-C, kill) and waits
 * for it, so that a training run saves its checkpoint and no orphan keeps writing into a run folder that a
 * resumed grid is about to reuse.
 */
public final class ChildRunner {
    /** How long a stopping parent waits for its child to save its checkpoint before it kills it. */
    static final long STOP_GRACE_SECONDS = 120;

    /** Set once this JVM has begun to stop: no child is started after that. */
    private static volatile boolean stopping;

    private ChildRunner() {
    }

    /** Exit code and the whole standard output and error of a finished child. */
    public record Captured(int exit, String out, String err) {
        /** The child's own last words for an error message: its last non-blank line of stderr, else of stdout. */
        public String lastLine() {
            String line = lastNonBlank(err);
            return line.isEmpty() ? lastNonBlank(out) : line;
        }
    }

    /** Runs the command and returns what it printed. */
    public static Captured capture(List<String> command) {
        Path dir = null;
        try {
            dir = Files.createTempDirectory("dynalora-child");
            Path out = dir.resolve("stdout");
            Path err = dir.resolve("stderr");
            ProcessBuilder pb = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile());
            int exit = waitFor(pb, () -> { }, 1000);
            return new Captured(exit, Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            deleteQuietly(dir);
        }
    }

    /**
     * Runs the command with standard output and error appended to {@code log} (created afresh), calling
     * {@code tick} every {@code pollMillis} while it runs; returns the exit code.
     */
    public static int logged(List<String> command, Path log, Runnable tick, long pollMillis) {
        try {
            Files.createDirectories(log.toAbsolutePath().getParent());
            Files.deleteIfExists(log);
        } catch (IOException e) {
            throw new UserInputException("cannot write " + log + ": " + e.getMessage());
        }
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        return waitFor(pb, tick, pollMillis);
    }

    private static int waitFor(ProcessBuilder pb, Runnable tick, long pollMillis) {
        Process p;
        if (stopping) {
            // The waiting hook below gives the main thread time to go on to a grid's next run; it must not start.
            throw new UserInputException("stopping: " + pb.command().get(0) + " is not started");
        }
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new UserInputException("cannot start " + pb.command().get(0) + ": " + e.getMessage());
        }
        // On Ctrl-C or SIGTERM the child is asked to stop (SIGTERM: a training run finishes its step and saves a
        // checkpoint), and this process waits for it: exiting first would leave a run still writing its checkpoint
        // behind a prompt that says the grid has stopped, and a grid restarted at once would find no checkpoint.
        Thread hook = new Thread(() -> {
            stopping = true;
            p.descendants().forEach(ProcessHandle::destroy);
            p.destroy();
            try {
                if (!p.waitFor(STOP_GRACE_SECONDS, TimeUnit.SECONDS)) {
                    p.descendants().forEach(ProcessHandle::destroyForcibly);
                    p.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        try {
            Runtime.getRuntime().addShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            hook.run(); // started just as this JVM began to stop: stop it as the hook would have
            throw new UserInputException("stopping: " + pb.command().get(0) + " was stopped as it started");
        }
        try {
            p.getOutputStream().close(); // nothing to say on its standard input; a reader sees end of file
            while (!p.waitFor(pollMillis, TimeUnit.MILLISECONDS)) {
                tick.run();
            }
            return p.exitValue();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new UserInputException("interrupted while waiting for " + pb.command().get(0));
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // The hook is running or about to: it ends the child itself.
            }
        }
    }

    static String lastNonBlank(String text) {
        String[] lines = text.split("\\R");
        for (int i = lines.length - 1; i >= 0; i--) {
            String l = lines[i].strip();
            if (!l.isEmpty()) {
                return l.length() > 300 ? l.substring(0, 300) + "..." : l;
            }
        }
        return "";
    }

    private static void deleteQuietly(Path dir) {
        if (dir == null) {
            return;
        }
        try (var s = Files.list(dir)) {
            for (Path f : s.toList()) {
                Files.deleteIfExists(f);
            }
            Files.deleteIfExists(dir);
        } catch (IOException ignored) {
            // A temporary folder left behind is not worth failing a benchmark for.
        }
    }
}
