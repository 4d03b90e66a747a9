package dev.dynalora.cli;

import dev.dynalora.UserInputException;
import dev.dynalora.training.TrainingInterruptedException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

/**
 * The dynalora command. User mistakes (bad paths, malformed files, bad flags) end with one line on standard
 * error and exit code 2, naming settings by their flags ({@link SettingFlags}); only genuine internal failures
 * print a stack trace.
 */
@Command(name = "dynalora", mixinStandardHelpOptions = true, version = "dynalora 0.1.0",
        description = "Fine-tune transformer encoders with LoRA, AdaLoRA and Dynamic LoRA, in pure Java.",
        subcommands = {InfoCommand.class, EmbedCommand.class, TrainCommand.class, EvalCommand.class, PredictCommand.class, GenerateCommand.class, ServeCommand.class, MergeCommand.class, BenchCommand.class, ReportCommand.class})
public final class Main implements Runnable {

    public static final int EXIT_USER_ERROR = 2;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** No subcommand: the usage, on standard error, and a usage error's exit code (as --help is not asked for). */
    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getErr());
        throw new UserInputException("no command given; run one of the commands above (e.g. dynalora train --help)");
    }

    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            Throwable t = ex;
            while (t.getCause() != null && !(t instanceof UserInputException)) {
                if (t.getCause() instanceof UserInputException) {
                    t = t.getCause();
                    break;
                }
                t = t.getCause();
            }
            PrintWriter err = cmd.getErr();
            if (t instanceof TrainingInterruptedException) {
                err.println("dynalora: " + SettingFlags.message((TrainingInterruptedException) t));
                err.flush();
                return Interrupts.exitCode();
            }
            if (t instanceof UserInputException u) {
                err.println("dynalora: error: " + SettingFlags.message(u));
                err.flush();
                return EXIT_USER_ERROR;
            }
            throw ex;
        });
        cl.setParameterExceptionHandler((ex, args) -> {
            PrintWriter err = ex.getCommandLine().getErr();
            err.println("dynalora: error: " + ex.getMessage() + " (see '" + ex.getCommandLine().getCommandSpec().qualifiedName() + " --help')");
            err.flush();
            return EXIT_USER_ERROR;
        });
        return cl;
    }

    public static void main(String[] args) {
        main(Main::commandLine, args);
    }

    /**
     * Runs a command line built on {@link #commandLine()} (another module's entry point adds its commands, as
     * dynalora-spark adds {@code spark}) with this command's interrupt handling, exit codes and standard error.
     */
    public static void main(Supplier<CommandLine> commandLine, String[] args) {
        Interrupts.install();
        int code = EXIT_USER_ERROR;
        try {
            code = commandLine.get().execute(args);
        } catch (OutOfMemoryError e) {
            System.err.println("dynalora: error: out of memory; use a smaller --batch or --max-len, or a larger heap (DYNALORA_JAVA_OPTS=-Xmx...)");
            code = EXIT_USER_ERROR;
        } finally {
            drainStandardError();
        }
        System.exit(code);
    }

    /**
     * bin/dynalora passes standard error through a filter process (it drops the JVM's incubator-module notice)
     * and names it in {@value #FILTER_PID_PROPERTY}. Closing standard error lets the filter reach its end;
     * waiting for it means that when the command returns, everything it printed is on the terminal or in the
     * file, and no shell prompt or next command overtakes the last line.
     */
    private static void drainStandardError() {
        Long pid = Long.getLong(FILTER_PID_PROPERTY);
        if (pid == null) {
            return;
        }
        System.err.flush();
        System.err.close(); // the JDK points fd 2 at /dev/null: the filter's pipe has no writer left
        ProcessHandle.of(pid).ifPresent(filter -> {
            try {
                filter.onExit().get(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (ExecutionException | TimeoutException e) {
                // The filter is gone or stuck: nothing more can be done for the output.
            }
        });
    }

    static final String FILTER_PID_PROPERTY = "dynalora.stderr.filter.pid";
}
