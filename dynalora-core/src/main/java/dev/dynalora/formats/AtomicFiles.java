package dev.dynalora.formats;

import dev.dynalora.UserInputException;

import java.io.BufferedOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes files so that they appear whole or not at all. A training run killed mid-save (Ctrl-C, OOM killer,
 * full disk) must not leave a truncated checkpoint or JSON report under the real name, where the next run
 * would trip over it: we write a temporary file beside the target, fsync it, then rename it over the target
 * in one atomic step, and fsync the directory so the rename itself survives a crash.
 */
public final class AtomicFiles {
    private AtomicFiles() {
    }

    /**
     * Writes {@code target} with whatever {@code body} writes to the stream it is given (buffered; the body
     * need not and should not close it). Missing parent directories are created. On success the target holds
     * exactly the new bytes; on any failure (the body throwing included) the target is untouched and the
     * temporary file is removed. If the target is a symbolic link, the link itself is replaced by the new file.
     *
     * @throws UserInputException for I/O failures (permission denied, disk full, ...), naming the target;
     *     runtime exceptions thrown by the body propagate unchanged.
     */
    public static void writeAtomically(Path target, IOConsumer<OutputStream> body) {
        Objects.requireNonNull(target, "target");
        Objects.requireNonNull(body, "body");
        Path abs = target.toAbsolutePath().normalize();
        Path dir = abs.getParent();
        if (dir == null || abs.getFileName() == null) {
            throw new UserInputException(target + ": not a file path");
        }
        if (Files.isDirectory(abs)) {
            throw new UserInputException(target + ": is a directory, cannot write a file there");
        }
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UserInputException("cannot create directory " + dir + " for " + target + ": "
                    + FormatErrors.describe(e), e);
        }
        // Same directory as the target, so the rename stays within one file system and is atomic. A hidden
        // name with a random part so concurrent writers and leftovers of a crashed run cannot collide. Not
        // Files.createTempFile: that creates the file with mode 0600, and the rename would carry that mode
        // over to the target; CREATE_NEW honours the umask like any ordinary file.
        Path tmp = dir.resolve("." + abs.getFileName() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
        boolean renamed = false;
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                BufferedOutputStream out = new BufferedOutputStream(Channels.newOutputStream(ch), 1 << 16);
                body.accept(new NonClosingOutputStream(out));
                out.flush();
                // Data to disk before the rename: otherwise a crash can leave the new name pointing at a file
                // whose blocks were never written (the classic zero-length-file-after-rename problem).
                ch.force(true);
            }
            // ATOMIC_MOVE maps to rename(2) on POSIX (replaces an existing target atomically) and to
            // MoveFileEx(MOVEFILE_REPLACE_EXISTING) on Windows.
            Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            renamed = true;
            syncDirectory(dir);
        } catch (IOException e) {
            throw new UserInputException("cannot write " + target + ": " + FormatErrors.describe(e), e);
        } finally {
            if (!renamed) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // Best effort: the original failure is the one worth reporting.
                }
            }
        }
    }

    /** Writes {@code text} as UTF-8 to {@code target}, atomically (see {@link #writeAtomically}). */
    public static void writeString(Path target, String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        writeAtomically(target, out -> out.write(bytes));
    }

    /** Writes {@code bytes} to {@code target}, atomically (see {@link #writeAtomically}). */
    public static void writeBytes(Path target, byte[] bytes) {
        byte[] copy = bytes.clone();
        writeAtomically(target, out -> out.write(copy));
    }

    /**
     * Renames {@code source} over {@code target} in one atomic step and makes the rename durable: at every
     * instant {@code target} is the old file or the new one. Both must be in the same folder (the same file
     * system), as a file written by {@link #writeAtomically} beside its final name is.
     *
     * @throws UserInputException if the rename fails, naming both files
     */
    public static void replace(Path source, Path target) {
        try {
            Files.move(source, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UserInputException("cannot rename " + source + " to " + target + ": " + FormatErrors.describe(e), e);
        }
        Path dir = target.toAbsolutePath().normalize().getParent();
        if (dir != null) {
            syncDirectory(dir);
        }
    }

    /**
     * Makes the rename durable. Opening a directory for reading and forcing it works on Linux and macOS; on
     * Windows (and some file systems) it throws, and there the rename is already durable or cannot be made
     * so, hence best effort.
     */
    private static void syncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // See above.
        }
    }

    /** Lets the body close "its" stream without closing ours before we have flushed and fsynced it. */
    private static final class NonClosingOutputStream extends FilterOutputStream {
        NonClosingOutputStream(OutputStream out) {
            super(out);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len); // FilterOutputStream's default writes byte by byte
        }

        @Override
        public void close() throws IOException {
            out.flush();
        }
    }
}
