package dev.dynalora.models;

import dev.dynalora.UserInputException;
import dev.dynalora.formats.SafetensorsReader;
import dev.dynalora.tensor.Param;
import dev.dynalora.tensor.Tensor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Parameters read from a Hugging Face safetensors checkpoint. Names are looked up with each of the given
 * prefixes in turn (by default as given and with the {@code bert.} prefix that BertFor* checkpoints use; a
 * Llama passes "" alone); every tensor's shape is checked against what the config implies, so a mismatched
 * file fails at load time with the tensor's name, not mid-run.
 */
public final class CheckpointWeights implements WeightSource {
    private final SafetensorsReader reader;
    private final Path file;
    private final String[] prefixes;

    /** The weights file of a Hugging Face model folder, {@code dir/model.safetensors}. */
    public static Path file(Path dir) {
        Path f = dir.resolve("model.safetensors");
        if (!Files.isRegularFile(f)) {
            throw new UserInputException("model folder " + dir + " has no model.safetensors");
        }
        return f;
    }

    public CheckpointWeights(SafetensorsReader reader, Path file, String... prefixes) {
        this.reader = reader;
        this.file = file;
        this.prefixes = prefixes.length == 0 ? new String[] {"", "bert."} : prefixes;
    }

    private String resolve(String name) {
        for (String p : prefixes) {
            if (reader.has(p + name)) {
                return p + name;
            }
        }
        return null;
    }

    @Override
    public boolean has(String name) {
        return resolve(name) != null;
    }

    @Override
    public Param param(String name, int... shape) {
        String stored = resolve(name);
        if (stored == null) {
            throw new UserInputException(file + " lacks tensor '" + name + "' that config.json implies");
        }
        int[] actual = reader.shape(stored);
        if (!Arrays.equals(actual, shape)) {
            throw new UserInputException(file + ": tensor '" + stored + "' has shape " + Arrays.toString(actual)
                    + " but config.json implies " + Arrays.toString(shape));
        }
        return new Param(name, new Tensor(shape, reader.readFloat(stored)), false);
    }
}
