package dev.dynalora.data;

import dev.dynalora.UserInputException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Layouts of the tasks not on disk here (QNLI, QQP, MNLI) and malformed-input reporting, on synthetic files. */
class GlueReaderTest {
    @TempDir
    Path root;

    private Path write(String folder, String file, String... lines) throws IOException {
        Path dir = root.resolve(folder);
        Files.createDirectories(dir);
        Path p = dir.resolve(file);
        Files.writeString(p, String.join("\n", lines) + "\n", StandardCharsets.UTF_8);
        return p;
    }

    private static String row(String... cols) {
        return String.join("\t", cols);
    }

    /** Asserts a user error whose single-line message names the file and line. */
    private static UserInputException assertUserError(Path file, int line, Runnable action) {
        UserInputException e = assertThrows(UserInputException.class, action::run);
        assertTrue(e.getMessage().contains(file + ":" + line + ": "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e;
    }

    @Test
    void qnli() throws IOException {
        write("QNLI", "train.tsv", row("index", "question", "sentence", "label"),
                row("0", "What is it?", "It is a \"thing.", "entailment"),
                row("1", "Who?", "Nobody.", "not_entailment"));
        write("QNLI", "test.tsv", row("index", "question", "sentence"), row("0", "Why?", "Because."));
        List<Example> train = GlueReader.read(root, GlueTask.QNLI, "train");
        assertEquals(List.of(new Example("What is it?", "It is a \"thing.", 0, 0f, 0, 2),
                new Example("Who?", "Nobody.", 1, 1f, 1, 3)), train);
        List<Example> test = GlueReader.read(root, GlueTask.QNLI, "test");
        assertEquals(new Example("Why?", "Because.", Example.NO_LABEL, Float.NaN, 0, 2), test.get(0));
    }

    @Test
    void qqp() throws IOException {
        write("QQP", "dev.tsv", row("id", "qid1", "qid2", "question1", "question2", "is_duplicate"),
                row("201359", "303345", "303346", "Why are so many questions?", "Why do people ask?", "0"),
                row("263843", "69383", "380476", "Is A?", "Is A really?", "1"));
        write("QQP", "test.tsv", row("id", "question1", "question2"), row("0", "Q1?", "Q2?"), row("1", "Q3?", "Q4?"));
        List<Example> dev = GlueReader.read(root, GlueTask.QQP, "dev");
        assertEquals(2, dev.size());
        assertEquals("Why are so many questions?", dev.get(0).textA());
        assertEquals("Why do people ask?", dev.get(0).textB());
        assertEquals(0, dev.get(0).label());
        assertEquals(1, dev.get(1).label());
        List<Example> test = GlueReader.read(root, GlueTask.QQP, "test");
        assertEquals("Q3?", test.get(1).textA());
        assertEquals(1, test.get(1).index());
    }

    @Test
    void mnliTrainDevAndTestLayouts() throws IOException {
        String[] head = {"index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
                "sentence1_parse", "sentence2_parse", "sentence1", "sentence2"};
        String parses = row("( ( a ) )", "( b )", "(ROOT (S a))", "(ROOT (S b))");
        write("MNLI", "train.tsv", row(row(head), "label1", "gold_label"),
                row("0", "31193", "31193n", "government", parses, "Premise one.", "Hypothesis one.", "neutral",
                        "neutral"));
        write("MNLI", "dev_matched.tsv", row(row(head), "label1", "label2", "label3", "label4", "label5",
                        "gold_label"),
                row("0", "63735", "63735n", "slate", parses, "Premise two.", "Hypothesis two.", "neutral",
                        "entailment", "neutral", "neutral", "neutral", "neutral"),
                row("1", "91383", "91383c", "government", parses, "Premise three.", "Hypothesis three.",
                        "contradiction", "contradiction", "contradiction", "contradiction", "contradiction",
                        "contradiction"));
        write("MNLI", "dev_mismatched.tsv", row(row(head), "label1", "label2", "label3", "label4", "label5",
                        "gold_label"),
                row("0", "75290", "75290c", "letters", parses, "Premise four.", "Hypothesis four.", "entailment",
                        "", "", "", "", "entailment"));
        write("MNLI", "test_matched.tsv", row(head), row("0", "31493", "31493", "travel", parses, "P.", "H."));

        Example train = GlueReader.read(root, GlueTask.MNLI, "train").get(0);
        assertEquals("Premise one.", train.textA());
        assertEquals("Hypothesis one.", train.textB());
        assertEquals(2, train.label()); // neutral in GLUE's contradiction/entailment/neutral order
        List<Example> matched = GlueReader.read(root, GlueTask.MNLI, "dev_matched");
        assertEquals(2, matched.get(0).label()); // gold_label (last column), not label1/label2
        assertEquals(0, matched.get(1).label());
        assertEquals(1, GlueReader.read(root, GlueTask.MNLI, "dev_mismatched").get(0).label());
        Example test = GlueReader.read(root, GlueTask.MNLI, "test_matched").get(0);
        assertEquals("P.", test.textA());
        assertFalse(test.hasGold());
        // The plain split names do not exist for MNLI.
        assertThrows(UserInputException.class, () -> GlueReader.read(root, GlueTask.MNLI, "dev"));
    }

    @Test
    void colaWithoutHeaderAndCrlf() throws IOException {
        Path p = root.resolve("cola.tsv");
        Files.writeString(p, "gj04\t1\t\tThe sailors rode.\r\nbc01\t0\t*\tRode the sailors.\r\n\r\n");
        List<Example> rows = GlueReader.readFile(p, GlueTask.COLA, "dev", 0);
        assertEquals(2, rows.size());
        assertEquals("The sailors rode.", rows.get(0).textA());
        assertNull(rows.get(0).textB());
        assertEquals(1, rows.get(0).label());
        assertEquals(0, rows.get(1).label());
        assertEquals(2, rows.get(1).line());
        // A data directory that is the file itself also works.
        assertEquals(rows, GlueReader.read(p, GlueTask.COLA, "dev"));
    }

    @Test
    void limitStopsEarlyAndIgnoresLaterErrors() throws IOException {
        write("RTE", "train.tsv", row("index", "sentence1", "sentence2", "label"),
                row("0", "a", "b", "entailment"), row("1", "c", "d", "not_entailment"), "broken row");
        assertEquals(2, GlueReader.read(root, GlueTask.RTE, "train", 2).size());
        assertEquals(1, GlueReader.read(root, GlueTask.RTE, "train", 1).size());
        Path file = root.resolve("RTE/train.tsv");
        assertUserError(file, 4, () -> GlueReader.read(root, GlueTask.RTE, "train", 0));
    }

    @Test
    void findsTaskFolderByAnyAcceptedSpellingOrAsDataDir() throws IOException {
        write("sst2", "dev.tsv", row("sentence", "label"), row("good film ", "1"));
        assertEquals(1, GlueReader.read(root, GlueTask.SST2, "dev").size());
        assertEquals(1, GlueReader.read(root.resolve("sst2"), GlueTask.SST2, "dev").size());
        assertEquals(root.resolve("sst2").resolve("dev.tsv"), GlueReader.resolve(root, GlueTask.SST2, "dev"));
    }

    @Test
    void missingFilesAndFolders() throws IOException {
        UserInputException e = assertThrows(UserInputException.class,
                () -> GlueReader.read(root.resolve("nope"), GlueTask.RTE, "train"));
        assertTrue(e.getMessage().contains("nope"), e.getMessage());
        write("RTE", "train.tsv", row("index", "sentence1", "sentence2", "label"), row("0", "a", "b", "entailment"));
        e = assertThrows(UserInputException.class, () -> GlueReader.read(root, GlueTask.RTE, "dev"));
        assertTrue(e.getMessage().contains(root.resolve("RTE").resolve("dev.tsv").toString()), e.getMessage());
        e = assertThrows(UserInputException.class, () -> GlueReader.read(root, GlueTask.WNLI, "train"));
        assertTrue(e.getMessage().contains("WNLI/train.tsv"), e.getMessage());
        // Pointing at another task's folder is named as such instead of failing on its labels.
        e = assertThrows(UserInputException.class, () -> GlueReader.read(root.resolve("RTE"), GlueTask.WNLI, "train"));
        assertTrue(e.getMessage().contains("rte folder"), e.getMessage());
    }

    @Test
    void wrongColumnCount() throws IOException {
        Path p = write("RTE", "dev.tsv", row("index", "sentence1", "sentence2", "label"),
                row("0", "a", "b", "entailment"), row("1", "a\tstray tab", "b", "entailment"));
        UserInputException e = assertUserError(p, 3, () -> GlueReader.read(root, GlueTask.RTE, "dev"));
        assertTrue(e.getMessage().contains("5 columns, expected 4"), e.getMessage());
        // A missing trailing column is counted too (split keeps trailing empty fields).
        Path q = write("WNLI", "dev.tsv", row("index", "sentence1", "sentence2", "label"), row("0", "a", "b"));
        assertUserError(q, 2, () -> GlueReader.read(root, GlueTask.WNLI, "dev"));
    }

    @Test
    void headerOfWrongShape() throws IOException {
        // An RTE test file passed as dev: the header has 3 columns, not 4.
        Path p = write("RTE", "dev.tsv", row("index", "sentence1", "sentence2"), row("0", "a", "b"));
        UserInputException e = assertUserError(p, 1, () -> GlueReader.read(root, GlueTask.RTE, "dev"));
        assertTrue(e.getMessage().contains("header"), e.getMessage());
    }

    @Test
    void unknownLabel() throws IOException {
        Path p = write("SST-2", "train.tsv", row("sentence", "label"), row("fine", "1"), row("bad", "positive"));
        UserInputException e = assertUserError(p, 3, () -> GlueReader.read(root, GlueTask.SST2, "train"));
        assertTrue(e.getMessage().contains("'positive'"), e.getMessage());
        assertTrue(e.getMessage().contains("0, 1"), e.getMessage());
    }

    @Test
    void emptyText() throws IOException {
        Path p = write("MRPC", "dev.tsv", row("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"),
                row("1", "1", "2", "A sentence .", "  "));
        UserInputException e = assertUserError(p, 2, () -> GlueReader.read(root, GlueTask.MRPC, "dev"));
        assertTrue(e.getMessage().contains("empty sentence in column 5"), e.getMessage());
    }

    @Test
    void badScores() throws IOException {
        String header = row("index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1",
                "sentence2", "score");
        String prefix = row("0", "main-captions", "MSRvid", "2012test", "0001", "none", "none", "A.", "B.");
        Path p = write("STS-B", "train.tsv", header, row(prefix, "3.800"), row(prefix, "4,5"));
        UserInputException e = assertUserError(p, 3, () -> GlueReader.read(root, GlueTask.STSB, "train"));
        assertTrue(e.getMessage().contains("'4,5'"), e.getMessage());
        p = write("STS-B", "dev.tsv", header, row(prefix, "NaN"));
        assertUserError(p, 2, () -> GlueReader.read(root, GlueTask.STSB, "dev"));
        p = write("STS-B", "dev.tsv", header, row(prefix, "7.5"));
        assertUserError(p, 2, () -> GlueReader.read(root, GlueTask.STSB, "dev"));
        p = write("STS-B", "dev.tsv", header, row(prefix, "3.8"));
        assertEquals(3.8f, GlueReader.read(root, GlueTask.STSB, "dev").get(0).target());
    }

    @Test
    void badTestIndex() throws IOException {
        Path p = write("SST-2", "test.tsv", row("index", "sentence"), row("0", "ok"), row("x1", "not ok"));
        UserInputException e = assertUserError(p, 3, () -> GlueReader.read(root, GlueTask.SST2, "test"));
        assertTrue(e.getMessage().contains("index"), e.getMessage());
    }

    @Test
    void invalidUtf8AndEmptyFile() throws IOException {
        Path dir = Files.createDirectories(root.resolve("CoLA"));
        Path p = dir.resolve("dev.tsv");
        Files.write(p, new byte[]{'s', '\t', '1', '\t', '\t', 'a', (byte) 0xC3, (byte) 0x28, '\n'});
        UserInputException e = assertThrows(UserInputException.class,
                () -> GlueReader.read(root, GlueTask.COLA, "dev"));
        assertTrue(e.getMessage().contains(p.toString()) && e.getMessage().contains("UTF-8"), e.getMessage());
        Files.writeString(dir.resolve("test.tsv"), "index\tsentence\n");
        e = assertThrows(UserInputException.class, () -> GlueReader.read(root, GlueTask.COLA, "test"));
        assertTrue(e.getMessage().contains("no examples"), e.getMessage());
    }

    @Test
    void messagesStayOnOneLine() throws IOException {
        Path p = write("SST-2", "dev.tsv", row("sentence", "label"), row("x", "ring\u0007bell" + "y".repeat(100)));
        UserInputException e = assertUserError(p, 2, () -> GlueReader.read(root, GlueTask.SST2, "dev"));
        assertTrue(e.getMessage().contains("\\u0007bell") && e.getMessage().contains("..."), e.getMessage());
    }
}
