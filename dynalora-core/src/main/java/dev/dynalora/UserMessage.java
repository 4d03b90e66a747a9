package dev.dynalora;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;

/**
 * The text of a {@link UserInputException}: plain text with references to {@link Setting}s in between. The
 * library renders a reference by its configuration name ({@code lr}, {@code maxLen=512}); a front end renders
 * it in its own terms (the CLI: {@code --lr}, {@code --max-len 512}), so that the user reads the name of what
 * they actually typed.
 */
public final class UserMessage {
    private final List<Object> parts;

    private UserMessage(List<Object> parts) {
        this.parts = parts;
    }

    /**
     * A message from parts: a {@link Setting} or a {@link Ref} names a setting, a {@code UserMessage} stands
     * for its parts; anything else is text ({@link String#valueOf}). {@code UserMessage.of(Setting.LR, " must be positive, got ", lr)}.
     */
    public static UserMessage of(Object... parts) {
        List<Object> list = new ArrayList<>(parts.length);
        for (Object p : parts) {
            if (p instanceof Setting s) {
                list.add(new Ref(s, null));
            } else if (p instanceof Ref r) {
                list.add(r);
            } else if (p instanceof UserMessage m) {
                list.addAll(m.parts);
            } else {
                list.add(String.valueOf(p));
            }
        }
        return new UserMessage(List.copyOf(list));
    }

    /** The text with each setting named by {@code names}. */
    public String render(Function<Ref, String> names) {
        StringBuilder sb = new StringBuilder();
        for (Object p : parts) {
            sb.append(p instanceof Ref r ? names.apply(r) : (String) p);
        }
        return sb.toString();
    }

    /** The settings this message names, in order. */
    public List<Setting> settings() {
        return parts.stream().filter(p -> p instanceof Ref).map(p -> ((Ref) p).setting()).toList();
    }

    /** The text in the library's terms: each setting by its configuration name. */
    @Override
    public String toString() {
        return render(Ref::configText);
    }

    /**
     * A setting named in a message, alone (value null: "maxLen must be ...") or with a value it should take
     * ("use maxLen=512").
     */
    public record Ref(Setting setting, Object value) {
        public Ref {
            Objects.requireNonNull(setting, "setting");
        }

        public String configText() {
            return setting.configText(value);
        }
    }
}
