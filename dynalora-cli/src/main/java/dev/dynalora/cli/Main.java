package dev.dynalora.cli;

import dev.dynalora.UserInputException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;

/**
 * The dynalora command. User mistakes (bad paths, malformed files, bad flags) end with one line on standard
 * error and exit code 2; only genuine internal failures print a stack trace.
 */
@Command(name = "dynalora", mixinStandardHelpOptions = true, version = "dynalora 0.1.0",
        description = "Fine-tune transformer encoders with LoRA and Dynamic LoRA, in pure Java.",
        subcommands = {InfoCommand.class, EmbedCommand.class, TrainCommand.class, EvalCommand.class, PredictCommand.class, MergeCommand.class, BenchCommand.class, ReportCommand.class})
public final class Main implements Runnable {

    public static final int EXIT_USER_ERROR = 2;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
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
            if (t instanceof UserInputException) {
                err.println("dynalora: error: " + t.getMessage());
                err.flush();
                return EXIT_USER_ERROR;
            }
            throw ex;
        });
        cl.setParameterExceptionHandler((ex, args) -> {
            PrintWriter err = ex.getCommandLine().getErr();
            err.println("dynalora: error: " + ex.getMessage() + " (see 'dynalora " + ex.getCommandLine().getCommandName() + " --help')");
            err.flush();
            return EXIT_USER_ERROR;
        });
        return cl;
    }

    public static void main(String[] args) {
        int code;
        try {
            code = commandLine().execute(args);
        } catch (OutOfMemoryError e) {
            System.err.println("dynalora: error: out of memory; use a smaller --batch or --max-len, or a larger heap (DYNALORA_JAVA_OPTS=-Xmx...)");
            code = EXIT_USER_ERROR;
        }
        System.exit(code);
    }
}
