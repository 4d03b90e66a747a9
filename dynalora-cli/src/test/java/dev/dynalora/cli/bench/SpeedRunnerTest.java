package dev.dynalora.cli.bench;

import dev.dynalora.UserInputException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A child's failure or an unusable result line becomes one line that names the measurement and the cause. */
class SpeedRunnerTest {
    @Test
    void failedChildIsNamedWithItsLastErrorLine() {
        var r = new ChildRunner.Captured(1, "", "Traceback...\nSystemExit: PyTorch is running on the reference BLAS\n\n");
        var e = assertThrows(UserInputException.class, () -> SpeedRunner.parse(SpeedCase.LORA_PYTORCH, r));
        assertEquals("pytorch lora_step failed (exit code 1): SystemExit: PyTorch is running on the reference BLAS", e.getMessage());
    }

    @Test
    void missingOrIncompleteResultLineIsRefused() {
        var none = new ChildRunner.Captured(0, "hello\n", "");
        var e = assertThrows(UserInputException.class, () -> SpeedRunner.parse(SpeedCase.FORWARD_DYNALORA, none));
        assertTrue(e.getMessage().startsWith("dynalora forward printed no JSON line"), e.getMessage());
        var zero = new ChildRunner.Captured(0, "{\"ms_per_step\": 0, \"tokens_per_s\": 5}\n", "");
        e = assertThrows(UserInputException.class, () -> SpeedRunner.parse(SpeedCase.FORWARD_PYTORCH, zero));
        assertTrue(e.getMessage().contains("'ms_per_step'"), e.getMessage());
    }

    @Test
    void goodLineIsReturned() {
        var ok = new ChildRunner.Captured(0, "noise\n{\"ms_per_step\": 2.5, \"tokens_per_s\": 4.0}\n", "a warning\n");
        assertEquals(2.5, SpeedRunner.parse(SpeedCase.DYNAMIC_DYNALORA, ok).get("ms_per_step").asDouble());
    }
}
