package dev.dynalora.cli.bench;

import dev.dynalora.UserInputException;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/** What bench speed compares: one model and shape, the same for both engines. */
public record SpeedSettings(Path model, Path reference, String python, int batch, int seq, int steps, int warmup,
                            int rounds, int threads, int rank, String targets, double peakGflopsPerCore) {

    /** The module names the reference script understands (its --targets); "dense" means all three dense layers. */
    static final Set<String> REFERENCE_TARGETS = Set.of("query", "key", "value", "dense");

    public SpeedSettings {
        if (batch < 1 || seq < 2 || steps < 1 || warmup < 0 || rounds < 1 || rank < 1) {
            throw new UserInputException("--batch, --steps, --rounds and --rank must be >= 1, --seq >= 2 and --warmup >= 0");
        }
        if (!(peakGflopsPerCore > 0) || Double.isInfinite(peakGflopsPerCore)) {
            throw new UserInputException("--peak-gflops-per-core must be a positive number");
        }
        List<String> names = targetList(targets);
        if (names.isEmpty() || !REFERENCE_TARGETS.containsAll(names)) {
            throw new UserInputException("--targets '" + targets + "': bench speed passes it to the reference too, which knows "
                    + "only a comma-separated list of query, key, value, dense");
        }
    }

    static List<String> targetList(String targets) {
        return Arrays.stream(targets.split(",")).map(String::strip).filter(s -> !s.isEmpty()).toList();
    }
}
