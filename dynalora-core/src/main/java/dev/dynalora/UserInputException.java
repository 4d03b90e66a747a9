package dev.dynalora;

/**
 * A problem with something the user gave us (a path, a file, a setting, a data row). A front end shows the
 * message alone, on one line, with no stack trace for a user's mistake. Keep messages to one line that names
 * the offending file, key, line or {@link Setting}; a message that names settings is built as a
 * {@link UserMessage}, so that each front end can name them in its own terms ({@link #userMessage()}), while
 * {@link #getMessage()} names them as the library's configuration does.
 */
public class UserInputException extends RuntimeException {
    private final UserMessage userMessage;

    public UserInputException(String message) {
        this(UserMessage.of(message));
    }

    public UserInputException(String message, Throwable cause) {
        this(UserMessage.of(message), cause);
    }

    public UserInputException(UserMessage message) {
        super(message.toString());
        this.userMessage = message;
    }

    public UserInputException(UserMessage message, Throwable cause) {
        super(message.toString(), cause);
        this.userMessage = message;
    }

    /** The message with its references to settings, for a front end to render in its own terms. */
    public UserMessage userMessage() {
        return userMessage;
    }
}
