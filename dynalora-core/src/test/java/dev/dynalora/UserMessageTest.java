package dev.dynalora;

import dev.dynalora.generation.GenerationConfig;
import dev.dynalora.training.AdaptiveOptions;
import dev.dynalora.training.TrainConfig;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Messages name settings by their configuration field, and a front end can name them its own way. */
class UserMessageTest {
    @Test
    void settingsAreNamedByFieldOrByTheFrontEnd() {
        UserMessage m = UserMessage.of("use a smaller ", Setting.BATCH, " or ", Setting.MAX_LEN.is(64), ", or ",
                Setting.GATE.is(false));
        assertEquals("use a smaller batch or maxLen=64, or gate=false", m.toString());
        assertEquals("use a smaller <batch> or <maxLen:64>, or <gate:false>",
                m.render(r -> "<" + r.setting().field() + (r.value() == null ? "" : ":" + r.value()) + ">"));
        assertEquals(List.of(Setting.BATCH, Setting.MAX_LEN, Setting.GATE), m.settings());
        assertEquals("a {b} %s c", UserMessage.of("a {b} %s c").toString(), "text is kept as it is");
        assertEquals("x batch y", UserMessage.of("x ", UserMessage.of(Setting.BATCH), " y").toString(), "nested");
    }

    @Test
    void aConfigExceptionStartsWithItsSetting() {
        ConfigException e = new ConfigException(Setting.LR, "must be a positive number, got -1");
        assertEquals("lr must be a positive number, got -1", e.getMessage());
        assertEquals(Setting.LR, e.setting());
        assertEquals("--lr must be a positive number, got -1", e.userMessage().render(r -> "--lr"));
    }

    @Test
    void trainConfigNamesTheWrongSettingAndItsValue() {
        TrainConfig good = TrainConfig.builder().model("m").task("mrpc").data("d").targets("query").threads(1).build();
        good.validate();
        assertRefused(Setting.LR, "lr must be a positive number, got -1.0", good.toBuilder().lr(-1).build());
        assertRefused(Setting.TRAIN_LIMIT, "trainLimit must be >= 0 (0: all), got -2",
                good.toBuilder().trainLimit(-2).build());
        assertRefused(Setting.EVAL_LIMIT, "evalLimit must be >= 0 (0: all), got -3",
                good.toBuilder().evalLimit(-3).build());
        assertRefused(Setting.LORA_DROPOUT, "loraDropout must be in [0, 1), got 1.0",
                good.toBuilder().loraDropout(1).build());
        ConfigException e = assertThrows(ConfigException.class, () -> good.requireMaxLenWithin(64));
        assertEquals("maxLen 128 exceeds the model's max_position_embeddings 64; use maxLen=64 or less", e.getMessage());
    }

    @Test
    void otherConfigurationsNameTheirSettings() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> AdaptiveOptions.builder(8).maxRankStep(-1).build());
        assertEquals(Setting.MAX_RANK_STEP, e.setting());
        e = assertThrows(ConfigException.class, () -> GenerationConfig.greedy(0));
        assertEquals("maxNewTokens must be at least 1, got 0", e.getMessage());
    }

    private static void assertRefused(Setting setting, String message, TrainConfig c) {
        ConfigException e = assertThrows(ConfigException.class, c::validate);
        assertEquals(setting, e.setting());
        assertEquals(message, e.getMessage());
    }
}
