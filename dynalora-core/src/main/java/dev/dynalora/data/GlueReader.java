package dev.dynalora.data;

import dev.dynalora.UserInputException;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads the original GLUE TSV files into {@link Example}s.
 *
 * <p>Rows are split on tabs only, with no CSV quote handling: GLUE sentences contain unbalanced double quotes
 * (MRPC, SST-2, STS-B) that are literal text, and quote-aware parsers silently merge rows. Every row must have
 * exactly the split's column count (see {@link GlueTask.Layout}); any malformed row is a
 * {@link UserInputException} naming {@code file:line}, because silently dropping or shifting rows would change
 * the task's numbers without anyone noticing.
 */
public final class GlueReader {
    private static final int MAX_SNIPPET = 40;

    private GlueReader() {
    }

    /** All examples of a split; see {@link #read(Path, GlueTask, String, int)}. */
    public static List<Example> read(Path dataDir, GlueTask task, String split) {
        return read(dataDir, task, split, 0);
    }

    /**
     * Examples of {@code split} (train, dev, test; for MNLI train, dev_matched, dev_mismatched, test_matched,
     * test_mismatched) of {@code task}.
     *
     * @param dataDir the GLUE root holding task folders ({@code <dataDir>/SST-2/train.tsv}), a task folder itself,
     *                or the TSV file itself
     * @param limit   read only the first {@code limit} examples (for CI-sized runs); 0 or negative reads all
     */
    public static List<Example> read(Path dataDir, GlueTask task, String split, int limit) {
        return readFile(resolve(dataDir, task, split), task, split, limit);
    }

    /**
     * The TSV file for a split. Looks for the task folder under {@code dataDir} (exact GLUE name first, then any
     * spelling {@link GlueTask#parse} accepts, e.g. "sst2"), then treats {@code dataDir} as the task folder.
     */
    public static Path resolve(Path dataDir, GlueTask task, String split) {
        String fileName = task.fileName(split); // validates the split before touching the disk
        if (Files.isRegularFile(dataDir)) {
            return dataDir;
        }
        if (!Files.isDirectory(dataDir)) {
            throw new UserInputException("GLUE data directory " + dataDir + " does not exist");
        }
        Path taskDir = dataDir.resolve(task.folder());
        if (!Files.isDirectory(taskDir)) {
            taskDir = findTaskFolder(dataDir, task);
        }
        if (taskDir != null) {
            Path file = taskDir.resolve(fileName);
            if (!Files.isRegularFile(file)) {
                throw new UserInputException("missing " + file + " (GLUE " + task.id() + " " + split + " split)");
            }
            return file;
        }
        // No task folder below: dataDir may itself be the task folder, unless its name says it is another task's
        // (reading RTE's files as WNLI would only fail later, on a confusing "unknown label").
        Path name = dataDir.toAbsolutePath().normalize().getFileName();
        GlueTask named = name == null ? null : GlueTask.lookup(name.toString());
        if (named != null && named != task) {
            throw new UserInputException(dataDir + " is the " + named.id() + " folder, not " + task.id());
        }
        Path file = dataDir.resolve(fileName);
        if (!Files.isRegularFile(file)) {
            throw new UserInputException("no " + task.folder() + "/" + fileName + " or " + fileName + " in " + dataDir
                    + " (expected the GLUE download layout <dir>/" + task.folder() + "/" + fileName + ")");
        }
        return file;
    }

    private static Path findTaskFolder(Path dataDir, GlueTask task) {
        try (DirectoryStream<Path> children = Files.newDirectoryStream(dataDir, Files::isDirectory)) {
            for (Path child : children) {
                if (GlueTask.lookup(child.getFileName().toString()) == task) {
                    return child;
                }
            }
        } catch (IOException e) {
            throw new UserInputException("cannot list " + dataDir + ": " + e.getMessage(), e);
        }
        return null;
    }

    /**
     * Parses one TSV file with the layout of {@code task}'s {@code split}. Public so that callers with files
     * outside the GLUE layout (and tests) can read them directly.
     */
    public static List<Example> readFile(Path file, GlueTask task, String split, int limit) {
        GlueTask.Layout layout = task.layout(split);
        List<Example> out = new ArrayList<>();
        // Strict decoding: mis-encoded text would otherwise turn into U+FFFD and reach the tokenizer unnoticed.
        var decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        int lineNo = 0;
        try (BufferedReader in = new BufferedReader(new InputStreamReader(Files.newInputStream(file), decoder),
                1 << 16)) {
            boolean headerPending = layout.header();
            String line;
            while ((line = in.readLine()) != null) {
                lineNo++;
                if (lineNo == 1 && !line.isEmpty() && line.charAt(0) == '\uFEFF') {
                    line = line.substring(1); // MRPC's files start with a UTF-8 byte order mark
                }
                if (line.isEmpty()) {
                    continue; // blank lines carry nothing (e.g. an extra newline at the end of an edited file)
                }
                String[] cols = line.split("\t", -1); // -1 keeps trailing empty columns, so counts stay exact
                if (headerPending) {
                    headerPending = false;
                    if (cols.length != layout.columns()) {
                        throw error(file, lineNo, "header has " + cols.length + " columns, expected "
                                + layout.columns() + " for " + task.id() + " " + split + " (wrong file?)");
                    }
                    continue;
                }
                if (limit > 0 && out.size() >= limit) {
                    break;
                }
                out.add(parseRow(file, lineNo, cols, task, split, layout, out.size()));
            }
        } catch (NoSuchFileException e) {
            throw new UserInputException("missing " + file, e);
        } catch (CharacterCodingException e) {
            // Decoding runs ahead of line splitting (buffering), so the line number is only a lower bound.
            throw new UserInputException(file + ": not valid UTF-8 (at or after line " + (lineNo + 1) + ")", e);
        } catch (IOException e) {
            throw new UserInputException("cannot read " + file + ": " + e.getMessage(), e);
        }
        if (out.isEmpty()) {
            throw new UserInputException(file + ": no examples (empty file?)");
        }
        return out;
    }

    private static Example parseRow(Path file, int lineNo, String[] cols, GlueTask task, String split,
                                    GlueTask.Layout layout, int position) {
        if (cols.length != layout.columns()) {
            throw error(file, lineNo, cols.length + " columns, expected " + layout.columns() + " for "
                    + task.id() + " " + split + " (tab inside a sentence, or a truncated row?)");
        }
        String textA = text(file, lineNo, cols, layout.textA());
        String textB = layout.textB() >= 0 ? text(file, lineNo, cols, layout.textB()) : null;
        int index = position;
        int label = Example.NO_LABEL;
        float target = Float.NaN;
        if (!layout.labelled()) {
            // Test predictions are submitted by this index, so it must come from the file, not our row count.
            String raw = cols[0].trim();
            try {
                index = Integer.parseInt(raw);
            } catch (NumberFormatException e) {
                throw error(file, lineNo, "index column is not an integer: '" + snippet(raw) + "'");
            }
        } else if (task.isRegression()) {
            String raw = cols[layout.label()].trim();
            try {
                target = Float.parseFloat(raw);
            } catch (NumberFormatException e) {
                throw error(file, lineNo, "score is not a number: '" + snippet(raw) + "'");
            }
            // STS-B similarity is defined on [0, 5]; anything else is a broken row, not data.
            if (!(target >= 0f && target <= 5f)) {
                throw error(file, lineNo, "score " + snippet(raw) + " outside the STS-B range [0, 5]");
            }
        } else {
            String raw = cols[layout.label()].trim();
            label = task.labelIndex(raw);
            if (label < 0) {
                throw error(file, lineNo, "unknown label '" + snippet(raw) + "' for " + task.id()
                        + " (expected one of " + String.join(", ", task.labelNames()) + ")");
            }
            target = label;
        }
        return new Example(textA, textB, label, target, index, lineNo);
    }

    private static String text(Path file, int lineNo, String[] cols, int column) {
        String s = cols[column];
        if (s.isBlank()) {
            throw error(file, lineNo, "empty sentence in column " + (column + 1));
        }
        return s;
    }

    private static UserInputException error(Path file, int lineNo, String message) {
        return new UserInputException(file + ":" + lineNo + ": " + message);
    }

    /** A short, single-line rendering of an offending value, so messages stay one line. */
    private static String snippet(String s) {
        StringBuilder b = new StringBuilder();
        int i = 0;
        for (; i < s.length() && b.length() < MAX_SNIPPET; i++) {
            char c = s.charAt(i);
            if (Character.isISOControl(c)) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        if (i < s.length()) {
            b.append("...");
        }
        return b.toString();
    }
}
