package dev.dynalora.training;

import dev.dynalora.SharedData;
import dev.dynalora.data.BatchPlanner;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.formats.SafetensorsReader;
import dev.dynalora.formats.SafetensorsWriter;
import dev.dynalora.kernels.CpuKernels;
import dev.dynalora.models.RandomWeights;
import dev.dynalora.models.bert.BertEncoder;
import dev.dynalora.tensor.Param;
import dev.dynalora.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * TrainConfig's shards (what N data-parallel workers compute): a sharded step's gradient is the ordered sum of
 * the shards' gradients, each computed from zero; one shard is the plain step bit for bit; the sharded gradient
 * is the whole batch's up to float rounding, with every dropout site on (so a shard draws the whole batch's
 * masks on its examples); empty shards add nothing; a sharded run trains to the plain run's adapter.
 */
class ShardedGradientsTest {
    static CpuKernels k;
    @TempDir
    static Path dir;
    static Path model;

    @BeforeAll
    static void open() throws Exception {
        k = new CpuKernels(2);
        model = tinyBert(dir.resolve("tiny-bert"));
    }

    @AfterAll
    static void close() {
        k.close();
    }

    /** A random 2-layer BERT, hidden 32, with MiniLM's tokenizer and every dropout at 0.1. */
    static Path tinyBert(Path d) throws Exception {
        Files.createDirectories(d);
        Path miniLm = SharedData.modelOrSkip("all-MiniLM-L6-v2");
        Files.copy(miniLm.resolve("tokenizer.json"), d.resolve("tokenizer.json"));
        Files.writeString(d.resolve("config.json"), """
                {"model_type": "bert", "vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 2,
                 "num_attention_heads": 2, "intermediate_size": 64, "hidden_act": "gelu",
                 "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 64,
                 "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0}
                """);
        BertEncoder encoder = new BertEncoder(ModelConfig.read(d), new RandomWeights(7, 0.02));
        Map<String, Tensor> w = new LinkedHashMap<>();
        for (Param p : encoder.params()) {
            w.put(p.name(), p.value());
        }
        SafetensorsWriter.write(d.resolve("model.safetensors"), w);
        return d;
    }

    static TrainConfig config(String task, int shards) {
        return TrainConfig.builder().model(model.toString()).task(task).data(SharedData.glue().toString())
                .method("lora").targets("query,value").loraDropout(0.1f).epochs(1).batch(8).lr(1e-2f).maxLen(32)
                .seed(3).threads(2).trainLimit(40).evalLimit(8).shards(shards).saveEvery(0).build();
    }

    static Trainer.Setup setup(TrainConfig c) {
        return Trainer.Setup.of(c);
    }

    /** Language modelling on stories260K (a tiny Llama) with adapter dropout, 6 examples a batch. */
    static TrainConfig lmConfig(int shards) {
        return TrainConfig.builder().model(SharedData.modelOrSkip("stories260K").toString()).task("lm")
                .data(SharedData.root().resolve("data/tinyshakespeare").toString()).method("lora").targets("q_proj,v_proj")
                .loraDropout(0.1f).epochs(1).batch(6).lr(5e-3f).maxLen(48).seed(3).threads(2).trainLimit(24)
                .evalLimit(4).shards(shards).saveEvery(0).build();
    }

    static float[] grads(List<Param> params) {
        return BatchGradients.flatGradients(params);
    }

    /** A batch of the first epoch's plan with examples of different lengths. */
    static int[] batch(Trainer.Setup s, TrainConfig c) {
        return BatchPlanner.trainBatches(s.objective().trainLengths(), c.batch(), c.seed(), 0).get(0);
    }

    static void zero(List<Param> params) {
        for (Param p : params) {
            p.zeroGrad();
        }
    }

    @Test
    void shardedGradientIsTheOrderedSumOfShardsFromZero() {
        for (String task : List.of("sst2", "stsb", "lm")) {
            TrainConfig c = task.equals("lm") ? lmConfig(2) : config(task, 2);
            Trainer.Setup s = setup(c);
            List<Param> params = s.trainable();
            int[] idx = batch(s, c);
            int mid = BatchGradients.from(1, 2, idx.length);

            Objective.Loss sharded = BatchGradients.local(2).compute(k, s.objective(), params, idx, c.seed(), 4);
            float[] got = grads(params);

            zero(params);
            Objective.Loss l0 = s.objective().lossAndGradients(k, idx, 0, mid, c.seed(), 4);
            float[] g0 = grads(params);
            zero(params);
            Objective.Loss l1 = s.objective().lossAndGradients(k, idx, mid, idx.length, c.seed(), 4);
            float[] g1 = grads(params);
            float[] sum = new float[g0.length];
            for (int i = 0; i < sum.length; i++) {
                sum[i] = g0[i] + g1[i];
            }
            assertArrayEquals(sum, got, task + ": the sum of the shards, in order");
            assertEquals(l0.loss() + l1.loss(), sharded.loss(), 0f, task);
            assertEquals(l0.tokens() + l1.tokens(), sharded.tokens(), task);

            // The whole batch at once: the same gradient up to the order of float sums.
            Objective.Loss whole = BatchGradients.local(1).compute(k, s.objective(), params, idx, c.seed(), 4);
            float[] g = grads(params);
            double maxAbs = 0;
            double maxDiff = 0;
            for (int i = 0; i < g.length; i++) {
                maxAbs = Math.max(maxAbs, Math.abs(g[i]));
                maxDiff = Math.max(maxDiff, Math.abs(g[i] - got[i]));
            }
            assertTrue(maxAbs > 0, task + ": a gradient at all");
            assertTrue(maxDiff <= 1e-4 * maxAbs, task + ": sharded vs whole batch: max difference " + maxDiff
                    + " against max |g| " + maxAbs);
            assertEquals(whole.loss(), sharded.loss(), 1e-5 * Math.abs(whole.loss()), task + ": loss");
            assertEquals(whole.tokens(), sharded.tokens(), task + ": tokens");
        }
    }

    @Test
    void oneShardIsThePlainStep() {
        TrainConfig c = config("sst2", 1);
        Trainer.Setup s = setup(c);
        List<Param> params = s.trainable();
        int[] idx = batch(s, c);
        zero(params);
        Objective.Loss plain = s.objective().lossAndGradients(k, idx, c.seed(), 2);
        float[] g = grads(params);
        Objective.Loss one = BatchGradients.local(1).compute(k, s.objective(), params, idx, c.seed(), 2);
        assertArrayEquals(g, grads(params));
        assertEquals(plain, one);
        zero(params);
        Objective.Loss range = s.objective().lossAndGradients(k, idx, 0, idx.length, c.seed(), 2);
        assertArrayEquals(g, grads(params));
        assertEquals(plain, range);
    }

    @Test
    void emptyShardsAddNothing() {
        TrainConfig c = config("sst2", 5);
        Trainer.Setup s = setup(c);
        List<Param> params = s.trainable();
        int[] idx = java.util.Arrays.copyOf(batch(s, c), 3);
        // 5 shards of 3 examples: two are empty; the others are the three one-example shards of shards = 3.
        Objective.Loss five = BatchGradients.local(5).compute(k, s.objective(), params, idx, c.seed(), 1);
        float[] g5 = grads(params);
        Objective.Loss three = BatchGradients.local(3).compute(k, s.objective(), params, idx, c.seed(), 1);
        assertArrayEquals(grads(params), g5);
        assertEquals(three, five);
    }

    @Test
    void aShardedRunTrainsThePlainRunsAdapterAndRecordsItsShards(@TempDir Path runs) throws Exception {
        Map<Integer, Map<String, float[]>> trained = new LinkedHashMap<>();
        for (int shards : new int[] {1, 2}) {
            TrainConfig c = config("sst2", shards);
            RunFolder run = RunFolder.create(runs.resolve("s" + shards), false);
            new Trainer(c, k, null).run(run, setup(c));
            assertEquals(shards, run.readConfig().shards());
            Map<String, float[]> t = new LinkedHashMap<>();
            try (SafetensorsReader r = SafetensorsReader.open(run.dir().resolve(RunFolder.TRAINABLE))) {
                for (String name : r.names()) {
                    t.put(name, r.readFloat(name));
                }
            }
            trained.put(shards, t);
        }
        double worst = 0;
        for (String name : trained.get(1).keySet()) {
            float[] a = trained.get(1).get(name);
            float[] b = trained.get(2).get(name);
            double d = 0;
            double n = 0;
            for (int i = 0; i < a.length; i++) {
                d += (double) (a[i] - b[i]) * (a[i] - b[i]);
                n += (double) a[i] * a[i];
            }
            worst = Math.max(worst, Math.sqrt(d / Math.max(n, 1e-300)));
        }
        // The bound after an epoch, per tensor: |a - b| / |a| in the L2 norm.
        assertTrue(worst <= 1e-5, "shards 2 vs 1 after an epoch: max relative difference " + worst);
    }

    @Test
    void aRunConfigWithoutShardsReadsAsOne(@TempDir Path d) throws Exception {
        TrainConfig c = config("sst2", 1);
        RunFolder run = RunFolder.create(d.resolve("old"), false);
        run.writeConfig(c);
        Path f = run.dir().resolve(RunFolder.CONFIG);
        String text = Files.readString(f);
        String old = text.replaceAll("\\s*\"shards\"\\s*:\\s*1,", "");
        assertTrue(!old.contains("shards"), old);
        Files.writeString(f, old);
        assertEquals(1, run.readConfig().shards());
        List<String> bad = new ArrayList<>();
        try {
            c.toBuilder().shards(0).build().validate();
        } catch (dev.dynalora.ConfigException e) {
            bad.add(e.getMessage());
        }
        assertEquals(1, bad.size());
        assertTrue(bad.get(0).contains("shards"), bad.get(0));
    }
}
