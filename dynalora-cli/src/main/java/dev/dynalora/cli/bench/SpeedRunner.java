package dev.dynalora.cli.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.UserInputException;

import java.util.List;

/** Runs one measurement of bench speed in its own process and returns its JSON result line, checked. */
public final class SpeedRunner {
    private SpeedRunner() {
    }

    public static ObjectNode measure(SpeedCase c, SpeedSettings s, String mainClass) {
        List<String> cmd = c.command(s, mainClass);
        ChildRunner.Captured r = ChildRunner.capture(cmd);
        return parse(c, r);
    }

    /** The result line of a finished child; a failure or a missing or malformed line is a one-line error. */
    static ObjectNode parse(SpeedCase c, ChildRunner.Captured r) {
        if (r.exit() != 0) {
            throw new UserInputException(c.label() + " failed (exit code " + r.exit() + "): " + orNothing(r.lastLine()));
        }
        ObjectNode o = JsonLine.last(r.out()).orElseThrow(() -> new UserInputException(
                c.label() + " printed no JSON line; its last output: " + orNothing(r.lastLine())));
        for (String field : List.of("ms_per_step", "tokens_per_s")) {
            JsonNode v = o.get(field);
            if (v == null || !v.isNumber() || !(v.asDouble() > 0)) {
                throw new UserInputException(c.label() + ": its JSON line has no positive number '" + field + "': " + abbreviate(o.toString()));
            }
        }
        return o;
    }

    private static String orNothing(String s) {
        return s.isEmpty() ? "(no output)" : s;
    }

    private static String abbreviate(String s) {
        return s.length() > 200 ? s.substring(0, 200) + "..." : s;
    }
}
