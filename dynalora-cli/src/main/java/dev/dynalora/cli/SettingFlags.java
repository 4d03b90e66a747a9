package dev.dynalora.cli;

import dev.dynalora.Setting;
import dev.dynalora.UserInputException;
import dev.dynalora.UserMessage;

import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * The one table from the library's settings to this command line's flags. The library names a setting in a
 * message by its configuration field ({@code lr must be a positive number, got -1}); the CLI shows the flag
 * the user typed instead ({@code --lr must be a positive number, got -1}). SettingFlagsTest checks that every
 * {@link Setting} has an entry here and that each entry is an option of the commands it names.
 */
final class SettingFlags {
    /** How a flag sets its setting, which decides how a setting with a value is written. */
    enum Kind {
        /** {@code --lr 1e-4}. */
        OPTION,
        /** A switch that turns the setting on: {@code --overwrite}. */
        SWITCH,
        /** A switch that turns the setting off: {@code --no-gate} for gate=false. */
        NEGATED_SWITCH,
        /** A switch that runs a command: {@code dynalora train --resume}. */
        COMMAND_SWITCH,
        /** An environment variable of bin/dynalora: {@code DYNALORA_JAVA_OPTS=-Xmx8g}. */
        ENVIRONMENT
    }

    /**
     * @param name     the flag (or environment variable)
     * @param commands the commands that have it, as typed after dynalora ("train", "bench generate")
     */
    record Flag(String name, Kind kind, List<String> commands) {
    }

    static final Map<Setting, Flag> FLAGS;

    static {
        Map<Setting, Flag> m = new EnumMap<>(Setting.class);
        m.put(Setting.MODEL, option("--model", "train", "generate"));
        m.put(Setting.TASK, option("--task", "train"));
        m.put(Setting.DATA, option("--data", "train"));
        m.put(Setting.METHOD, option("--method", "train"));
        m.put(Setting.RANK, option("--rank", "train"));
        m.put(Setting.ALPHA, option("--alpha", "train"));
        m.put(Setting.TARGETS, option("--targets", "train"));
        m.put(Setting.RS_LORA, new Flag("--rslora", Kind.SWITCH, List.of("train")));
        m.put(Setting.LORA_DROPOUT, option("--lora-dropout", "train"));
        m.put(Setting.EPOCHS, option("--epochs", "train"));
        m.put(Setting.BATCH, option("--batch", "train", "generate"));
        m.put(Setting.LR, option("--lr", "train"));
        m.put(Setting.MAX_LEN, option("--max-len", "train"));
        m.put(Setting.SEED, option("--seed", "train", "generate"));
        m.put(Setting.THREADS, option("--threads", "train"));
        m.put(Setting.WARMUP_RATIO, option("--warmup-ratio", "train"));
        m.put(Setting.WEIGHT_DECAY, option("--weight-decay", "train"));
        m.put(Setting.MAX_GRAD_NORM, option("--max-grad-norm", "train"));
        m.put(Setting.TRAIN_LIMIT, option("--limit", "train"));
        m.put(Setting.EVAL_LIMIT, option("--eval-limit", "train"));
        m.put(Setting.LOG_EVERY, option("--log-every", "train"));
        m.put(Setting.SAVE_EVERY, option("--save-every", "train"));
        m.put(Setting.SHARDS, option("--shards", "train"));
        m.put(Setting.R_MAX, option("--r-max", "train"));
        m.put(Setting.R_MIN, option("--r-min", "train"));
        m.put(Setting.TAU, option("--tau", "train"));
        m.put(Setting.IMPORTANCE, new Flag("--no-importance", Kind.NEGATED_SWITCH, List.of("train")));
        m.put(Setting.REALLOCATION, new Flag("--no-reallocation", Kind.NEGATED_SWITCH, List.of("train")));
        m.put(Setting.GATE, new Flag("--no-gate", Kind.NEGATED_SWITCH, List.of("train")));
        m.put(Setting.GATE_PER_TOKEN, new Flag("--gate-per-token", Kind.SWITCH, List.of("train")));
        m.put(Setting.GATE_LR_RATIO, option("--gate-lr-ratio", "train"));
        m.put(Setting.MAX_RANK_STEP, option("--max-rank-step", "train"));
        m.put(Setting.INIT_R, option("--init-r", "train"));
        m.put(Setting.TARGET_R, option("--target-r", "train"));
        m.put(Setting.ORTH_REG_WEIGHT, option("--orth-reg-weight", "train"));
        m.put(Setting.T_INIT, option("--t-init", "train"));
        m.put(Setting.T_FINAL, option("--t-final", "train"));
        m.put(Setting.DELTA_T, option("--delta-t", "train"));
        m.put(Setting.MAX_NEW_TOKENS, option("--max-new-tokens", "generate"));
        m.put(Setting.TEMPERATURE, option("--temperature", "generate"));
        m.put(Setting.TOP_K, option("--top-k", "generate"));
        m.put(Setting.TOP_P, option("--top-p", "generate"));
        m.put(Setting.STOP, option("--stop", "generate"));
        m.put(Setting.LOGPROBS, option("--logprobs", "generate"));
        m.put(Setting.RUN_DIR, option("--out", "train"));
        m.put(Setting.RESUME, new Flag("--resume", Kind.COMMAND_SWITCH, List.of("train")));
        m.put(Setting.OVERWRITE, new Flag("--overwrite", Kind.SWITCH, List.of("train", "merge", "generate", "predict")));
        m.put(Setting.JAVA_OPTIONS, new Flag("DYNALORA_JAVA_OPTS", Kind.ENVIRONMENT, List.of()));
        FLAGS = Collections.unmodifiableMap(m);
    }

    private SettingFlags() {
    }

    private static Flag option(String name, String... commands) {
        return new Flag(name, Kind.OPTION, List.of(commands));
    }

    /** The message of a user error, with every setting it names written as this CLI's flag. */
    static String message(UserInputException e) {
        return e.userMessage().render(SettingFlags::text);
    }

    /** A setting as the command line writes it: --max-len, --max-len 512, --no-gate, dynalora train --resume. */
    static String text(UserMessage.Ref ref) {
        Flag f = FLAGS.get(ref.setting());
        if (f == null) {
            return ref.configText();
        }
        Object v = ref.value();
        return switch (f.kind()) {
            case OPTION -> v == null ? f.name() : f.name() + " " + shellWord(String.valueOf(v));
            case SWITCH -> Boolean.FALSE.equals(v) ? "no " + f.name() : f.name();
            case NEGATED_SWITCH -> Boolean.TRUE.equals(v) ? "no " + f.name() : f.name();
            case COMMAND_SWITCH -> "dynalora " + f.commands().get(0) + " " + f.name();
            case ENVIRONMENT -> v == null ? f.name() : f.name() + "=" + shellWord(String.valueOf(v));
        };
    }

    /** A value as one word for a POSIX shell: as it is when it needs no quotes, else in single quotes. */
    static String shellWord(String s) {
        if (s.matches("[A-Za-z0-9_./@%+=:,-]+")) {
            return s;
        }
        return "'" + s.replace("'", "'\\''") + "'";
    }
}
