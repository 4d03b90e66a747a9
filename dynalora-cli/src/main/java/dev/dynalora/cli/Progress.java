package dev.dynalora.cli;

import me.tongfei.progressbar.InteractiveConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

import java.io.Console;
import java.io.PrintStream;
import java.lang.reflect.Method;

/**
 * A progress bar with speed and ETA on an interactive terminal (drawn on standard error so that standard
 * output stays clean for JSON); nothing at all when standard error is not a terminal (CI logs, pipes), where
 * commands print plain log lines instead.
 *
 * <p>Whether standard error is a terminal, and how wide it is, cannot be asked from Java (System.console()
 * looks at standard input and output, and the JDK has no terminal-size call), so bin/dynalora, which can ask
 * the shell, passes both as system properties: {@value #TERMINAL_PROPERTY} and {@value #COLUMNS_PROPERTY}.
 * Without them (java run directly) the console and the COLUMNS variable are the fallback. The bar is drawn one
 * column narrower than the terminal: a line of exactly the terminal's width wraps on many terminals, and a
 * wrapped line is redrawn as a new line at every update.
 */
final class Progress implements AutoCloseable {
    static final String TERMINAL_PROPERTY = "dynalora.stderr.terminal";
    static final String COLUMNS_PROPERTY = "dynalora.terminal.columns";

    private final ProgressBar bar;

    private Progress(ProgressBar bar) {
        this.bar = bar;
    }

    /** Whether standard error is an interactive terminal (and CI is not set). */
    static boolean interactive() {
        if (System.getenv("CI") != null) {
            return false;
        }
        String p = System.getProperty(TERMINAL_PROPERTY);
        if (p != null) {
            return Boolean.parseBoolean(p);
        }
        Console c = System.console();
        if (c == null) {
            return false;
        }
        try {
            // JDK 22+ returns a Console even when the streams are redirected; isTerminal() tells the two apart.
            Method isTerminal = Console.class.getMethod("isTerminal");
            return (Boolean) isTerminal.invoke(c);
        } catch (ReflectiveOperationException e) {
            return true; // JDK 17-21: a non-null console is a terminal
        }
    }

    /** The terminal's width in columns (80 when unknown). */
    static int columns() {
        Integer fromLauncher = Integer.getInteger(COLUMNS_PROPERTY);
        if (fromLauncher != null && fromLauncher > 0) {
            return fromLauncher;
        }
        try {
            int c = Integer.parseInt(System.getenv().getOrDefault("COLUMNS", "80").trim());
            return c > 0 ? c : 80;
        } catch (NumberFormatException e) {
            return 80;
        }
    }

    static Progress start(String task, long total, String unit) {
        return start(task, total, unit, System.err);
    }

    /** As {@link #start(String, long, String)}, drawing on {@code out} (tests read what a terminal would show). */
    static Progress start(String task, long total, String unit, PrintStream out) {
        return interactive() ? drawn(task, total, unit, out) : new Progress(null);
    }

    /** A bar drawn on {@code out} whatever the environment says (tests draw it under CI too). */
    static Progress drawn(String task, long total, String unit, PrintStream out) {
        int width = Math.max(20, columns() - 1);
        ProgressBar bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(total)
                .setStyle(ProgressBarStyle.ASCII).setConsumer(new InteractiveConsoleProgressBarConsumer(out, width))
                .setMaxRenderedLength(width).setRenderer(new BarRenderer(unit)).build();
        return new Progress(bar);
    }

    /** Moves the bar to n; extra (may be null) is shown after the speed, separated by a space. */
    void stepTo(long n, String extra) {
        if (bar != null) {
            bar.stepTo(n);
            if (extra != null) {
                bar.setExtraMessage(" " + extra);
            }
        }
    }

    void stepBy(long n) {
        if (bar != null) {
            bar.stepBy(n);
        }
    }

    /** Prints a line above the bar (the bar is redrawn below it at its next update). */
    void println(String line) {
        if (bar != null) {
            System.err.print("\r\033[K");
            System.err.println(line);
        } else {
            System.err.println(line);
        }
        System.err.flush();
    }

    @Override
    public void close() {
        if (bar != null) {
            bar.close();
        }
    }
}
