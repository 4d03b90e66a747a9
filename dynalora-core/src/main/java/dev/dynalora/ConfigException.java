package dev.dynalora;

/**
 * A setting with a value the library refuses: the message starts with the setting's name and says what it
 * must be and what it got, e.g. "lr must be a positive number, got -1" (which the CLI shows as
 * "--lr must be a positive number, got -1").
 */
public class ConfigException extends UserInputException {
    private final Setting setting;

    /**
     * @param setting the setting at fault; the message begins with it
     * @param problem the rest of the message: text, and {@link Setting}s or {@link UserMessage.Ref}s it names
     */
    public ConfigException(Setting setting, Object... problem) {
        super(message(setting, problem));
        this.setting = setting;
    }

    public Setting setting() {
        return setting;
    }

    private static UserMessage message(Setting setting, Object[] problem) {
        Object[] parts = new Object[problem.length + 2];
        parts[0] = setting;
        parts[1] = " ";
        System.arraycopy(problem, 0, parts, 2, problem.length);
        return UserMessage.of(parts);
    }
}
