package dev.dynalora.cli;

import dev.dynalora.UserInputException;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;

/**
 * The checks before a command writes one output file (predict's predictions, report's HTML): it may not be
 * one of the command's own inputs, and --overwrite replaces only a file this kind of command wrote before
 * (recognised by its first bytes), never a user's data, a run's logs or a model file that happens to be named.
 */
public final class OutputFile {
    private OutputFile() {
    }

    /**
     * @param flag      the option naming the file, for messages (--output, --out)
     * @param signature text that a file of this kind written by dynalora holds within its first 4 KB
     * @param kind      what such a file is, for messages ("a predictions file")
     * @param inputs    files or folders the command reads; the output may be none of them nor inside a folder of them
     */
    public static void check(String flag, Path output, boolean overwrite, String signature, String kind, Path... inputs) {
        Path out = real(output);
        for (Path in : inputs) {
            Path i = real(in);
            if (out.equals(i)) {
                throw new UserInputException(flag + " " + output + " is an input of this command; choose another file");
            }
        }
        if (Files.isDirectory(output)) {
            throw new UserInputException(flag + " " + output + " is a folder; give a file name");
        }
        if (!Files.exists(output, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        if (!overwrite) {
            throw new UserInputException(output + " already exists; choose another " + flag + " or pass --overwrite to replace it");
        }
        if (!startsWith(output, signature)) {
            throw new UserInputException(output + " is not " + kind + " written by dynalora, so --overwrite will not"
                    + " replace it; choose another " + flag);
        }
    }

    private static boolean startsWith(Path file, String signature) {
        if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
            return false;
        }
        char[] buf = new char[4096];
        try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            int n = r.read(buf);
            return n > 0 && new String(buf, 0, n).contains(signature);
        } catch (IOException e) {
            return false; // unreadable or not UTF-8: certainly not ours
        }
    }

    private static Path real(Path p) {
        try {
            return Files.exists(p) ? p.toRealPath() : p.toAbsolutePath().normalize();
        } catch (IOException e) {
            return p.toAbsolutePath().normalize();
        }
    }
}
