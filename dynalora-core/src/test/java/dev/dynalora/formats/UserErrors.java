package dev.dynalora.formats;

import dev.dynalora.UserInputException;
import org.junit.jupiter.api.function.Executable;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Asserts the project's error contract: a UserInputException whose message is one line with the given parts. */
public final class UserErrors {
    private UserErrors() {
    }

    public static UserInputException assertUserError(Executable call, String... fragments) {
        UserInputException e = assertThrows(UserInputException.class, call);
        String m = e.getMessage();
        assertFalse(m.contains("\n") || m.contains("\r"), "message must be one line: " + m);
        for (String f : fragments) {
            assertTrue(m.contains(f), "message should contain \"" + f + "\": " + m);
        }
        return e;
    }
}
