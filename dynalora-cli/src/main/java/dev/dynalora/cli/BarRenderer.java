package dev.dynalora.cli;

import me.tongfei.progressbar.ProgressBarRenderer;
import me.tongfei.progressbar.ProgressState;

import java.util.Locale;

/**
 * Draws "train  12% [=====>     ] 41/345 steps 0:00:22<0:02:43 1.9 steps/s loss 0.7007 lr 2.1e-04" within
 * the given width, always: the bar takes what the text leaves, and when even the text is too long its end is
 * cut. (The library's own renderer let the line grow past the terminal's width, which wraps it, and every
 * redraw then starts a new line; it also ran the speed into the message.)
 */
final class BarRenderer implements ProgressBarRenderer {
    private static final int MIN_BAR = 10;
    private final String unit;

    BarRenderer(String unit) {
        this.unit = unit;
    }

    @Override
    public String render(ProgressState s, int maxLength) {
        long max = s.getMax();
        long cur = s.getCurrent();
        double frac = max > 0 ? Math.min(1.0, (double) cur / max) : 0;
        double secs = s.getElapsedAfterStart().toMillis() / 1000.0;
        long done = cur - s.getStart();
        String speed = secs > 0 && done > 0 ? String.format(Locale.ROOT, "%.1f", done / secs) : "?";
        String eta = secs > 0 && done > 0 && max > cur ? TrainCommand.duration(secs / done * (max - cur)) : max <= cur ? "0:00:00" : "?";
        String head = String.format(Locale.ROOT, "%s %3d%% ", s.getTaskName(), (int) Math.floor(frac * 100));
        String tail = String.format(Locale.ROOT, " %d/%d %s %s<%s %s %s/s", cur, max, unit,
                TrainCommand.duration(s.getTotalElapsed().toMillis() / 1000.0), eta, speed, unit);
        String extra = s.getExtraMessage() == null || s.getExtraMessage().isBlank() ? "" : " " + s.getExtraMessage().strip();
        int room = maxLength - head.length() - tail.length() - 2;
        StringBuilder sb = new StringBuilder(maxLength).append(head);
        if (room >= MIN_BAR) {
            // A wide terminal gets a long bar, but the message keeps its place: the bar yields to it first.
            int barLen = Math.max(MIN_BAR, Math.min(room - extra.length(), 50));
            int filled = (int) Math.round(frac * barLen);
            sb.append('[').append("=".repeat(filled));
            if (filled < barLen) {
                sb.append('>').append(" ".repeat(barLen - filled - 1));
            }
            sb.append(']');
        }
        sb.append(tail).append(extra);
        return sb.length() > maxLength ? sb.substring(0, Math.max(0, maxLength)) : sb.toString();
    }
}
