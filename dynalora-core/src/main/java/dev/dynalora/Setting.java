package dev.dynalora;

/**
 * The settings a {@link UserInputException} may name: fields of the library's configuration records
 * ({@code TrainConfig}, {@code AdaptiveOptions}, {@code GenerationConfig}) and the few arguments of its entry
 * points that a user chooses (the run folder, whether to overwrite, the JVM's options). A message names a
 * setting through this type, never by a front end's spelling of it: the library says {@code lr}, a command
 * line can say {@code --lr}, a configuration file {@code lr:} (see {@link UserMessage#render}).
 */
public enum Setting {
    // TrainConfig
    MODEL("model"), TASK("task"), DATA("data"), METHOD("method"), RANK("rank"), ALPHA("alpha"), TARGETS("targets"),
    RS_LORA("rsLora"), LORA_DROPOUT("loraDropout"), EPOCHS("epochs"), BATCH("batch"), LR("lr"), MAX_LEN("maxLen"),
    SEED("seed"), THREADS("threads"), WARMUP_RATIO("warmupRatio"), WEIGHT_DECAY("weightDecay"),
    MAX_GRAD_NORM("maxGradNorm"), TRAIN_LIMIT("trainLimit"), EVAL_LIMIT("evalLimit"), LOG_EVERY("logEvery"),
    SAVE_EVERY("saveEvery"), SHARDS("shards"),
    // AdaptiveOptions
    R_MAX("rMax"), R_MIN("rMin"), TAU("tau"), IMPORTANCE("importance"), REALLOCATION("reallocation"), GATE("gate"),
    GATE_PER_TOKEN("gatePerToken"), GATE_LR_RATIO("gateLrRatio"), MAX_RANK_STEP("maxRankStep"), INIT_R("initR"),
    TARGET_R("targetR"), ORTH_REG_WEIGHT("orthRegWeight"), T_INIT("tInit"), T_FINAL("tFinal"), DELTA_T("deltaT"),
    // GenerationConfig and Generator.generate
    MAX_NEW_TOKENS("maxNewTokens"), TEMPERATURE("temperature"), TOP_K("topK"), TOP_P("topP"), STOP("stop"),
    LOGPROBS("logprobs"),
    // Where results go: RunFolder.create(dir, overwrite), Trainer.resume, HuggingFaceExport (overwrite)
    RUN_DIR("runDir"), RESUME("resume"), OVERWRITE("overwrite"),
    /** Options of the Java virtual machine, such as the heap size; named with its value, e.g. -Xmx8g. */
    JAVA_OPTIONS("javaOptions") {
        @Override
        public String configText(Object value) {
            return value == null ? "the JVM options" : String.valueOf(value);
        }
    };

    private final String field;

    Setting(String field) {
        this.field = field;
    }

    /** The name of the field or argument, as the library's configuration records spell it. */
    public String field() {
        return field;
    }

    /** A reference to this setting with a value, e.g. "use {@code MAX_LEN.is(512)} or less". */
    public UserMessage.Ref is(Object value) {
        return new UserMessage.Ref(this, value);
    }

    /** How the library names this setting (with a value: field=value), e.g. maxLen or maxLen=512. */
    public String configText(Object value) {
        return value == null ? field : field + "=" + value;
    }
}
