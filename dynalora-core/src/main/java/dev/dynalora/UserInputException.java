package dev.dynalora;

/**
 * A problem with something the user gave us (a path, a file, a flag, a data row). The CLI prints the
 * message alone, on one line, and exits non-zero: no stack trace for a user's mistake. Keep messages to one
 * line that names the offending file, key or line.
 */
public class UserInputException extends RuntimeException {
    public UserInputException(String message) {
        super(message);
    }

    public UserInputException(String message, Throwable cause) {
        super(message, cause);
    }
}
