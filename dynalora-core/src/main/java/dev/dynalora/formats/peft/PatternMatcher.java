package dev.dynalora.formats.peft;

import dev.dynalora.UserInputException;
import dev.dynalora.formats.FormatErrors;
import dev.dynalora.models.PeftLayout;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The regular expressions of one adapter_config.json (rank_pattern and alpha_pattern keys, a target_modules
 * pattern), matched as PEFT matches them and within a budget: the file is untrusted, and a pattern with runaway
 * backtracking must fail with a message naming the file rather than hang the load or, later, the trainer.
 */
final class PatternMatcher {
    /**
     * Characters all matching of one file's patterns may read: rank_pattern and alpha_pattern with a key for
     * every module of BERT-large read about 1.1 * 10^7 here, a runaway pattern billions. Shared by all matches,
     * so many slow keys cannot add up to a hang either.
     */
    private long steps = 100_000_000L;
    private final Path file;
    private final PeftLayout layout;

    PatternMatcher(Path file, PeftLayout layout) {
        this.file = file;
        this.layout = layout;
    }

    /** PEFT's form of a rank_pattern / alpha_pattern key K (get_pattern_key): {@code (.*\.)?(K)$}. */
    static Pattern peftForm(String key) {
        return Pattern.compile("(.*\\.)?(" + key + ")$");
    }

    /** LoraConfig's form of a key, once the family's prefix is gone (LoraConfig.rankFor matches our names). */
    Pattern ourForm(String key) {
        return Pattern.compile("(.*\\.)?" + PeftKeys.ourName(layout, key) + "$");
    }

    /**
     * A regular expression from the file, checked in every form it is matched in: as written (target_modules),
     * in PEFT's form and in LoraConfig's (what the loader hands on). Otherwise a bad key ("\\Q", or "bert.*x",
     * which is "*x" once BERT's "bert." is gone) would surface later as a PatternSyntaxException instead of an
     * error naming the file.
     */
    String checked(String key, String what) {
        for (String p : List.of(key, "(.*\\.)?(" + key + ")$", "(.*\\.)?" + PeftKeys.ourName(layout, key) + "$")) {
            try {
                Pattern.compile(p);
            } catch (PatternSyntaxException e) {
                throw new UserInputException(file + ": " + what + " " + FormatErrors.quote(key)
                        + " is not a valid regular expression" + (p.equals(key) ? "" : " when matched as "
                        + FormatErrors.quote(p)) + ": " + FormatErrors.oneLine(e.getDescription()));
            }
        }
        return key;
    }

    /** PEFT's get_pattern_key: the first key K (file order) with re.match(r"(.*\.)?(K)$", name). */
    String patternKey(Set<String> keys, String hfName) {
        for (String k : keys) {
            if (matches(peftForm(k), hfName, k)) {
                return k;
            }
        }
        return null;
    }

    /** Whether p matches the whole name, reading at most the file's remaining budget of characters. */
    boolean matches(Pattern p, String name, String key) {
        CharSequence budgeted = new CharSequence() {
            @Override
            public int length() {
                return name.length();
            }

            @Override
            public char charAt(int index) {
                if (--steps < 0) {
                    throw new UserInputException(file + ": pattern " + FormatErrors.quote(key)
                            + " takes too long to match module names (runaway backtracking?); simplify the patterns");
                }
                return name.charAt(index);
            }

            @Override
            public CharSequence subSequence(int start, int end) {
                return name.subSequence(start, end);
            }

            @Override
            public String toString() {
                return name;
            }
        };
        try {
            return p.matcher(budgeted).matches();
        } catch (StackOverflowError e) {
            throw new UserInputException(file + ": pattern " + FormatErrors.quote(key)
                    + " is too deeply nested to match module names");
        }
    }
}
