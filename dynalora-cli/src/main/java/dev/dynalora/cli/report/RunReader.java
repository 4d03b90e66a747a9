package dev.dynalora.cli.report;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.UserInputException;
import dev.dynalora.cli.report.RunData.AllocationRecord;
import dev.dynalora.cli.report.RunData.EvalPoint;
import dev.dynalora.cli.report.RunData.ModuleStat;
import dev.dynalora.cli.report.RunData.TrainPoint;
import dev.dynalora.formats.FormatErrors;
import dev.dynalora.training.RunFolder;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a run folder for a report and checks it on the way: a missing folder, a folder without
 * run_config.json, or a line of metrics.jsonl / allocation.jsonl that is not JSON or lacks a field the report
 * needs ends with a one-line {@link UserInputException} naming the file (and line). Blank lines are skipped and
 * record types this version does not know are ignored, so a report can be made of a run still in progress.
 */
public final class RunReader {
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .build();

    private RunReader() {
    }

    public static RunData read(Path dir) {
        if (!Files.exists(dir)) {
            throw new UserInputException("run folder " + dir + " does not exist");
        }
        if (!Files.isDirectory(dir)) {
            throw new UserInputException(dir + " is not a folder (--run takes a run folder written by dynalora train)");
        }
        Path configFile = dir.resolve(RunFolder.CONFIG);
        if (!Files.isRegularFile(configFile)) {
            throw new UserInputException(dir + " is not a dynalora run folder (no " + RunFolder.CONFIG + ")");
        }
        ObjectNode config = readConfig(configFile);
        Path metricsFile = dir.resolve(RunFolder.METRICS);
        if (!Files.isRegularFile(metricsFile)) {
            throw new UserInputException(dir + " has no " + RunFolder.METRICS + " (the run has not logged anything yet)");
        }
        List<TrainPoint> train = new ArrayList<>();
        List<EvalPoint> evals = new ArrayList<>();
        ObjectNode[] summary = {null};
        ObjectNode[] diverged = {null};
        forEachLine(metricsFile, (rec, at) -> {
            JsonNode type = rec.get("type");
            if (type == null || !type.isTextual()) {
                throw at.error("record without a \"type\"");
            }
            switch (type.asText()) {
                case "train" -> train.add(new TrainPoint(integral(rec, "step", at), number(rec, "epoch", false, at),
                        number(rec, "loss", true, at), number(rec, "lr", true, at), number(rec, "grad_norm", false, at),
                        number(rec, "tokens_per_s", false, at)));
                case "eval" -> {
                    Double epoch = number(rec, "epoch", true, at);
                    if (epoch == null) {
                        throw at.error("\"epoch\" is null");
                    }
                    JsonNode split = rec.get("split");
                    evals.add(new EvalPoint(epoch, rec.hasNonNull("step") ? integral(rec, "step", at) : null,
                            split != null && split.isTextual() ? split.asText() : null,
                            number(rec, "train_loss", false, at), metricMap(rec, "metrics", true, at)));
                }
                case "summary" -> {
                    metricMap(rec, "best", false, at);
                    metricMap(rec, "final", false, at);
                    summary[0] = rec;
                }
                case "diverged" -> diverged[0] = rec;
                default -> {
                    // A record type of a later version: not shown.
                }
            }
        });
        List<AllocationRecord> allocation = new ArrayList<>();
        Path allocationFile = dir.resolve(RunFolder.ALLOCATION);
        if (Files.exists(allocationFile)) {
            forEachLine(allocationFile, (rec, at) -> allocation.add(allocationRecord(rec, at)));
        }
        Path abs = dir.toAbsolutePath().normalize();
        String name = abs.getFileName() == null ? abs.toString() : abs.getFileName().toString();
        return new RunData(dir, name, config, List.copyOf(train), List.copyOf(evals), summary[0], diverged[0],
                List.copyOf(allocation));
    }

    private static ObjectNode readConfig(Path file) {
        try {
            String text = readUtf8(file);
            JsonNode n = JSON.readTree(text);
            if (n == null || !n.isObject()) {
                throw new UserInputException(file + ": expected a JSON object (the run configuration)");
            }
            return (ObjectNode) n;
        } catch (JsonProcessingException e) {
            throw new UserInputException(file + ": not valid JSON: " + FormatErrors.describe(e));
        }
    }

    private static String readUtf8(Path file) {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(java.nio.ByteBuffer.wrap(Files.readAllBytes(file))).toString();
        } catch (CharacterCodingException e) {
            throw new UserInputException(file + ": not UTF-8 text");
        } catch (IOException e) {
            throw new UserInputException("cannot read " + file + ": " + FormatErrors.describe(e));
        }
    }

    /** Where a record came from, for error messages: "FILE:LINE: ...". */
    record Location(Path file, int line) {
        UserInputException error(String problem) {
            return new UserInputException(file + ":" + line + ": " + problem);
        }
    }

    interface RecordConsumer {
        void accept(ObjectNode record, Location at);
    }

    private static void forEachLine(Path file, RecordConsumer consumer) {
        var decoder = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        int lineNo = 0;
        try (BufferedReader r = new BufferedReader(new java.io.InputStreamReader(Files.newInputStream(file), decoder))) {
            String line;
            while (true) {
                try {
                    line = r.readLine();
                } catch (CharacterCodingException e) {
                    throw new UserInputException(file + ":" + (lineNo + 1) + ": not UTF-8 text");
                }
                if (line == null) {
                    break;
                }
                lineNo++;
                if (line.isBlank()) {
                    continue;
                }
                Location at = new Location(file, lineNo);
                JsonNode n;
                try {
                    n = JSON.readTree(line);
                } catch (JsonProcessingException e) {
                    throw at.error("not valid JSON: " + FormatErrors.oneLine(
                            e.getOriginalMessage() == null ? e.getClass().getSimpleName() : e.getOriginalMessage()));
                }
                if (n == null || !n.isObject()) {
                    throw at.error("expected a JSON object");
                }
                consumer.accept((ObjectNode) n, at);
            }
        } catch (IOException e) {
            throw new UserInputException("cannot read " + file + ": " + FormatErrors.describe(e));
        }
    }

    private static AllocationRecord allocationRecord(ObjectNode rec, Location at) {
        long step = integral(rec, "step", at);
        Long budget = rec.hasNonNull("budget") ? integral(rec, "budget", at) : null;
        JsonNode mods = rec.get("modules");
        if (mods == null || !mods.isObject()) {
            throw at.error("\"modules\" missing or not an object");
        }
        Map<String, ModuleStat> modules = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = mods.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode m = e.getValue();
            String where = "module " + FormatErrors.quote(e.getKey());
            if (!m.isObject()) {
                throw at.error(where + " is not an object");
            }
            long rank = integral(m, "rank", at, where);
            if (rank < 0 || rank > Integer.MAX_VALUE) {
                throw at.error(where + ": rank " + rank + " out of range");
            }
            modules.put(e.getKey(), new ModuleStat((int) rank, number(m, "importance", false, at, where),
                    number(m, "gate_mean", false, at, where), number(m, "gate_std", false, at, where),
                    number(m, "gate_min", false, at, where), number(m, "gate_max", false, at, where),
                    m.hasNonNull("gate_examples") ? integral(m, "gate_examples", at, where) : null));
        }
        return new AllocationRecord(step, budget, modules);
    }

    private static long integral(JsonNode rec, String key, Location at) {
        return integral(rec, key, at, null);
    }

    private static long integral(JsonNode rec, String key, Location at, String where) {
        JsonNode v = rec.get(key);
        String prefix = where == null ? "" : where + ": ";
        if (v == null || v.isNull()) {
            throw at.error(prefix + "\"" + key + "\" missing");
        }
        if (!v.isIntegralNumber() && !(v.isNumber() && v.asDouble() == Math.rint(v.asDouble()) && Double.isFinite(v.asDouble()))) {
            throw at.error(prefix + "\"" + key + "\" is not a whole number: " + FormatErrors.quote(v.toString()));
        }
        return v.asLong();
    }

    private static Double number(JsonNode rec, String key, boolean required, Location at) {
        return number(rec, key, required, at, null);
    }

    /** A number field; null (NaN and infinity are written as null or as strings) gives null. */
    private static Double number(JsonNode rec, String key, boolean required, Location at, String where) {
        JsonNode v = rec.get(key);
        String prefix = where == null ? "" : where + ": ";
        if (v == null) {
            if (required) {
                throw at.error(prefix + "\"" + key + "\" missing");
            }
            return null;
        }
        return numberValue(v, at, prefix + "\"" + key + "\"");
    }

    private static Double numberValue(JsonNode v, Location at, String what) {
        if (v.isNull()) {
            return null;
        }
        if (v.isNumber()) {
            double d = v.asDouble();
            return Double.isFinite(d) ? d : null;
        }
        if (v.isTextual() && List.of("NaN", "Infinity", "-Infinity").contains(v.asText())) {
            return null;
        }
        throw at.error(what + " is not a number: " + FormatErrors.quote(v.toString()));
    }

    private static Map<String, Double> metricMap(ObjectNode rec, String key, boolean required, Location at) {
        JsonNode v = rec.get(key);
        if (v == null || v.isNull()) {
            if (required) {
                throw at.error("\"" + key + "\" missing");
            }
            return null;
        }
        if (!v.isObject()) {
            throw at.error("\"" + key + "\" is not an object of metrics");
        }
        Map<String, Double> out = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            out.put(e.getKey(), numberValue(e.getValue(), at, "metric " + FormatErrors.quote(e.getKey())));
        }
        return out;
    }
}
