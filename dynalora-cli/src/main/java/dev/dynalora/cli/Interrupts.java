package dev.dynalora.cli;

import sun.misc.Signal;

/**
 * Ctrl-C (SIGINT) and SIGTERM. By default the JVM exits at once on either, which in the middle of training
 * would lose every step since the last checkpoint and say nothing. Instead, while a training loop is running
 * ({@link #arm}), the first signal only asks it to stop: it finishes the step in flight, saves a checkpoint
 * and prints the command that resumes it (see TrainCommand). A second Ctrl-C, or a signal that arrives while no
 * training loop runs, exits at once with the conventional code 128 + the signal's number, as the JVM would.
 *
 * <p>A SIGTERM that arrives while the stop is already under way is ignored, not taken as "quit at once": it is a
 * supervisor passing on the same request (Ctrl-C on {@code bench glue} reaches its child run from the terminal,
 * and then again as the SIGTERM of the parent's shutdown hook; Spark and service managers do the same), and
 * obeying it would throw away the checkpoint the first signal is saving. SIGKILL stays the way to end a run at
 * once.
 *
 * <p>sun.misc.Signal (module jdk.unsupported, readable by every class-path application) is the JDK's only way
 * to handle a signal without starting shutdown; shutdown hooks run when it is too late to finish a step
 * cleanly.
 */
final class Interrupts {
    private static final int SIGTERM = 15;
    private static volatile boolean armed;
    private static volatile int signal; // the first signal received while armed, 0 for none

    private Interrupts() {
    }

    /** Installs the handlers; called once by {@link Main#main} (never by in-process tests). */
    static void install() {
        for (String name : new String[] {"INT", "TERM"}) {
            try {
                Signal.handle(new Signal(name), Interrupts::handle);
            } catch (IllegalArgumentException | UnsupportedOperationException e) {
                // The signal is not available here (or reserved by the JVM, e.g. under -Xrs): keep the default.
            }
        }
    }

    private static void handle(Signal s) {
        if (armed && signal != 0 && s.getNumber() == SIGTERM) {
            return; // the stop is under way; see the class comment
        }
        if (!armed || signal != 0) {
            System.exit(128 + s.getNumber());
        }
        signal = s.getNumber();
        System.err.println();
        System.err.println("dynalora: stopping after the current step to save a checkpoint"
                + " (press Ctrl-C again to quit at once and lose the steps since the last checkpoint)");
        System.err.flush();
    }

    /** A training loop starts: the next signal asks it to stop instead of ending the process. */
    static void arm() {
        armed = true;
    }

    static void disarm() {
        armed = false;
    }

    static boolean stopRequested() {
        return signal != 0;
    }

    /** The exit code for a run stopped on request: 128 + the signal's number (130 for SIGINT). */
    static int exitCode() {
        return 128 + (signal != 0 ? signal : 2);
    }
}
