package dev.dynalora.cli;

import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * A progress bar with speed and ETA on an interactive terminal (drawn on standard error so that standard
 * output stays clean for JSON); nothing at all when standard error is not a terminal (CI logs, pipes).
 */
final class Progress implements AutoCloseable {
    private final ProgressBar bar;

    private Progress(ProgressBar bar) {
        this.bar = bar;
    }

    static boolean interactive() {
        return System.console() != null && System.getenv("CI") == null;
    }

    static Progress start(String task, long total, String unit) {
        if (!interactive()) {
            return new Progress(null);
        }
        ProgressBar bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(total)
                .setStyle(ProgressBarStyle.ASCII).setConsumer(new me.tongfei.progressbar.InteractiveConsoleProgressBarConsumer(System.err))
                .setUnit(" " + unit, 1).showSpeed().build();
        return new Progress(bar);
    }

    void stepTo(long n, String extra) {
        if (bar != null) {
            bar.stepTo(n);
            if (extra != null) {
                bar.setExtraMessage(extra);
            }
        }
    }

    void stepBy(long n) {
        if (bar != null) {
            bar.stepBy(n);
        }
    }

    @Override
    public void close() {
        if (bar != null) {
            bar.close();
        }
    }
}
