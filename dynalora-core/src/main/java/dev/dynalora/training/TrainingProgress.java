package dev.dynalora.training;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.UserInputException;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Where a training run stands between two steps: the counters of the loop (step, epoch, position in the
 * epoch's batch plan, the epoch's running loss) and what the summary needs (tokens, time, best and last dev
 * metrics). Together with the weights, the optimizer and the allocator this is all a run needs to continue
 * exactly: the batch plan of an epoch and every dropout mask are pure functions of (seed, epoch, step), so no
 * random generator state has to be kept.
 *
 * <p>Doubles go to JSON as raw bits: a resumed run must log the very same running loss, and a metric can be
 * NaN, which JSON cannot hold.
 */
final class TrainingProgress {
    long step;
    int epoch;
    int batchInEpoch;
    double lossSum;
    int lossCount;
    long tokens;
    double trainSeconds;
    Map<String, Double> best;
    Map<String, Double> last;

    /** Moves to the start of the next epoch (after its evaluation has used the epoch's loss). */
    void endEpoch() {
        epoch++;
        batchInEpoch = 0;
        lossSum = 0;
        lossCount = 0;
    }

    /** Records an evaluation: the last metrics, and the best so far by the task's primary metric. */
    void evaluated(Map<String, Double> metrics, String primary, boolean higherIsBetter) {
        last = metrics;
        double now = metrics.get(primary);
        if (best == null || (higherIsBetter ? now > best.get(primary) : now < best.get(primary))) {
            best = metrics;
        }
    }

    ObjectNode toJson() {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("step", step);
        o.put("epoch", epoch);
        o.put("batch_in_epoch", batchInEpoch);
        o.put("loss_sum_bits", Double.doubleToRawLongBits(lossSum));
        o.put("loss_count", lossCount);
        o.put("tokens", tokens);
        o.put("train_seconds_bits", Double.doubleToRawLongBits(trainSeconds));
        putMetrics(o, "best_bits", best);
        putMetrics(o, "last_bits", last);
        return o;
    }

    static TrainingProgress fromJson(JsonNode o) {
        TrainingProgress p = new TrainingProgress();
        p.step = integral(o, "step");
        p.epoch = intField(o, "epoch");
        p.batchInEpoch = intField(o, "batch_in_epoch");
        p.lossSum = Double.longBitsToDouble(integral(o, "loss_sum_bits"));
        p.lossCount = intField(o, "loss_count");
        p.tokens = integral(o, "tokens");
        p.trainSeconds = Double.longBitsToDouble(integral(o, "train_seconds_bits"));
        p.best = metrics(o, "best_bits");
        p.last = metrics(o, "last_bits");
        if (p.step < 0) {
            throw new UserInputException("checkpoint: negative training position");
        }
        return p;
    }

    private static void putMetrics(ObjectNode o, String key, Map<String, Double> m) {
        if (m == null) {
            o.putNull(key);
            return;
        }
        ObjectNode n = o.putObject(key);
        m.forEach((k, v) -> n.put(k, Double.doubleToRawLongBits(v)));
    }

    private static Map<String, Double> metrics(JsonNode o, String key) {
        JsonNode n = o.get(key);
        if (n == null || n.isNull()) {
            return null;
        }
        if (!n.isObject()) {
            throw new UserInputException("checkpoint: '" + key + "' is not an object");
        }
        Map<String, Double> m = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().canConvertToExactIntegral()) {
                throw new UserInputException("checkpoint: metric '" + e.getKey() + "' is malformed");
            }
            m.put(e.getKey(), Double.longBitsToDouble(e.getValue().asLong()));
        }
        return m;
    }

    private static int intField(JsonNode o, String key) {
        long v = integral(o, key);
        if (v < 0 || v > Integer.MAX_VALUE) {
            throw new UserInputException("checkpoint: '" + key + "' is out of range: " + v);
        }
        return (int) v;
    }

    private static long integral(JsonNode o, String key) {
        JsonNode n = o.get(key);
        if (n == null || !n.canConvertToExactIntegral() || !n.canConvertToLong()) {
            throw new UserInputException("checkpoint: '" + key + "' is missing or not an integer");
        }
        return n.asLong();
    }
}
