package dev.dynalora.formats;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;

/**
 * Helpers that turn low-level failures into the one-line texts a {@link dev.dynalora.UserInputException}
 * carries. Exceptions from the JDK and Jackson often say too little (an AccessDeniedException's message is
 * just the path) or too much (multi-line Jackson messages with a source excerpt), so we phrase them here.
 */
public final class FormatErrors {
    private static final int MAX_QUOTED = 120;

    private FormatErrors() {
    }

    /**
     * A name from an untrusted file, quoted for an error message: control characters escaped (a tensor name
     * with a newline must not break the one-line rule) and very long names cut (a hostile header may hold a
     * multi-megabyte key).
     */
    public static String quote(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder(Math.min(s.length(), MAX_QUOTED) + 8).append('\'');
        int n = Math.min(s.length(), MAX_QUOTED);
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c == '\n') {
                b.append("\\n");
            } else if (c == '\r') {
                b.append("\\r");
            } else if (c == '\t') {
                b.append("\\t");
            } else if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == '\u2028' || c == '\u2029') {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        if (s.length() > MAX_QUOTED) {
            b.append("...(").append(s.length()).append(" chars)");
        }
        return b.append('\'').toString();
    }

    /** What went wrong in an I/O call, in words, without the path (the caller names the file). */
    public static String describe(IOException e) {
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof NoSuchFileException) {
            return "no such file or directory";
        }
        if (e instanceof FileSystemException) {
            String reason = ((FileSystemException) e).getReason();
            if (reason != null && !reason.isBlank()) {
                return oneLine(reason);
            }
        }
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : oneLine(m);
    }

    /** A Jackson parse error as "reason at line L, column C" on one line, without Jackson's source excerpt. */
    public static String describe(JsonProcessingException e) {
        String m = e.getOriginalMessage();
        if (m == null || m.isBlank()) {
            m = e.getClass().getSimpleName();
        }
        StringBuilder b = new StringBuilder(oneLine(m));
        JsonLocation loc = e.getLocation();
        if (loc != null && loc.getLineNr() > 0) {
            b.append(" at line ").append(loc.getLineNr()).append(", column ").append(loc.getColumnNr());
        }
        return b.toString();
    }

    /** Collapses any line breaks so the text fits the one-line message rule. */
    public static String oneLine(String s) {
        String t = s.replaceAll("[\\r\\n]+\\s*", " ").trim();
        return t.length() > 300 ? t.substring(0, 300) + "..." : t;
    }
}
