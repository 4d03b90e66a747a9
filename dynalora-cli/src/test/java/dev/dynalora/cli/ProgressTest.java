package dev.dynalora.cli;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The progress bar fits the terminal it is drawn on, and its fields stay apart. */
class ProgressTest {
    @AfterEach
    void clear() {
        System.clearProperty(Progress.COLUMNS_PROPERTY);
    }

    /** Every redraw of the bar (the text between carriage returns) as a terminal of that width would get it. */
    static List<String> draw(int columns) throws Exception {
        System.setProperty(Progress.COLUMNS_PROPERTY, Integer.toString(columns));
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
             Progress p = Progress.drawn("train", 345, "steps", out)) {
            for (int step = 1; step <= 10; step++) {
                p.stepTo(step, "loss 0.7007 lr 2.14e-05 1234 tok/s");
                Thread.sleep(30);
            }
        }
        // ANSI cursor movements take no columns.
        String shown = bytes.toString(StandardCharsets.UTF_8).replaceAll("\u001b\\[[0-9;]*[A-Za-z]", "");
        return Arrays.stream(shown.split("[\r\n]")).filter(l -> !l.isBlank()).toList();
    }

    @Test
    void fitsEightyColumns() throws Exception {
        List<String> frames = draw(80);
        assertFalse(frames.isEmpty());
        for (String f : frames) {
            assertTrue(f.length() < 80, f.length() + " columns: " + f);
        }
        assertTrue(frames.get(frames.size() - 1).contains("10/345 steps"), frames.toString());
    }

    @Test
    void speedAndMessageAreSeparatedOnAWideTerminal() throws Exception {
        List<String> frames = draw(140);
        String last = frames.get(frames.size() - 1);
        assertTrue(last.length() < 140, last);
        assertTrue(last.matches(".*10/345 steps \\d:\\d\\d:\\d\\d<\\S+ \\S+ steps/s loss 0\\.7007 lr 2\\.14e-05 1234 tok/s"), last);
    }
}
