package dev.dynalora.adapters;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.kernels.ReferenceKernels;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Dynamic LoRA's reallocation arithmetic (exact budget, bounds, proportions), the importance measurement and
 * the mask mechanics on single adapters. Training-level properties are in DynamicLoraTrainingAllocTest.
 */
class DynamicLoraAllocatorTest {
    static final Kernels K = new ReferenceKernels();

    // ---- allocate(): exact budget, bounds, monotonicity ----

    static void checkAllocation(double[] w, int budget, int lo, int hi) {
        int[] r = DynamicLoraAllocator.allocate(w, budget, lo, hi);
        assertEquals(w.length, r.length);
        long sum = 0;
        for (int m = 0; m < r.length; m++) {
            assertTrue(r[m] >= lo && r[m] <= hi, () -> "rank out of [" + lo + ", " + hi + "]: " + Arrays.toString(r)
                    + " for " + Arrays.toString(w));
            sum += r[m];
        }
        assertEquals(budget, sum, () -> "budget not exact for weights " + Arrays.toString(w));
        for (int a = 0; a < r.length; a++) {
            for (int b = 0; b < r.length; b++) {
                if (w[a] > w[b]) {
                    int fa = a;
                    int fb = b;
                    assertTrue(r[a] >= r[b], () -> "not monotone: w" + fa + " > w" + fb + " but ranks " + Arrays.toString(r)
                            + " for " + Arrays.toString(w));
                }
            }
        }
    }

    @Test
    void reallocationKeepsTheBudgetExactAndRespectsBoundsForRandomImportances() {
        SplittableRandom rng = new SplittableRandom(42);
        for (int trial = 0; trial < 20000; trial++) {
            int n = 1 + rng.nextInt(40);
            int lo = rng.nextInt(4);
            int hi = lo + rng.nextInt(17);
            double[] w = new double[n];
            int kind = trial % 7;
            for (int m = 0; m < n; m++) {
                w[m] = switch (kind) {
                    case 0 -> rng.nextDouble();
                    case 1 -> Math.pow(10, rng.nextDouble() * 600 - 300);                 // 1e-300 .. 1e300
                    case 2 -> rng.nextInt(3) == 0 ? 0 : rng.nextDouble();                // some exact zeros
                    case 3 -> 1.0;                                                         // all tied
                    case 4 -> rng.nextInt(3);                                              // ties among few values
                    case 5 -> m == 0 ? 1 : 0;                                              // one module only
                    default -> rng.nextInt(2) == 0 ? Double.MIN_VALUE : Double.MAX_VALUE / n; // extreme both ways
                };
            }
            int budget;
            switch (rng.nextInt(4)) {
                case 0 -> budget = n * lo;        // at the lower bound
                case 1 -> budget = n * hi;        // at the upper bound
                default -> budget = n * lo + rng.nextInt(n * (hi - lo) + 1);
            }
            checkAllocation(w, budget, lo, hi);
        }
    }

    @Test
    void weightsFromSoftmaxOfImportanceWithTemperatureAndWeightsAllZero() {
        // softmax(log(imp) / tau) is imp^(1/tau) up to normalisation.
        double[] w = DynamicLoraAllocator.weights(new double[] {1, 4, 16}, 2.0);
        assertEquals(0.25, w[0], 1e-15);
        assertEquals(0.5, w[1], 1e-15);
        assertEquals(1.0, w[2], 1e-15);
        // Zero importance: weight zero; none positive: equal weights; huge ranges do not overflow.
        assertArrayEquals(new double[] {0, 1}, DynamicLoraAllocator.weights(new double[] {0, 3}, 1.0), 0);
        assertArrayEquals(new double[] {1, 1, 1}, DynamicLoraAllocator.weights(new double[] {0, 0, Double.NaN}, 1.0), 0);
        double[] extreme = DynamicLoraAllocator.weights(new double[] {1e-300, 1e300}, 1.0);
        assertEquals(1.0, extreme[1]);
        assertTrue(extreme[0] >= 0 && Double.isFinite(extreme[0]));
        checkAllocation(extreme, 10, 1, 8);
    }

    @Test
    void allocationIsProportionalWhereTheBoundsAllow() {
        assertArrayEquals(new int[] {2, 2, 4}, DynamicLoraAllocator.allocate(new double[] {1, 1, 2}, 8, 1, 8));
        assertArrayEquals(new int[] {1, 2, 3, 4}, DynamicLoraAllocator.allocate(new double[] {1, 2, 3, 4}, 10, 1, 8));
        // Module 0 is capped at 4; the other two share the remaining 5 equally (2.5 each); the half unit goes
        // to the lower index on a tie of remainder and weight.
        assertArrayEquals(new int[] {4, 3, 2}, DynamicLoraAllocator.allocate(new double[] {100, 1, 1}, 9, 1, 4));
        // Largest remainder: 7 * (0.5, 0.3, 0.2) = (3.5, 2.1, 1.4) -> floors (3, 2, 1), the missing unit to 3.5.
        assertArrayEquals(new int[] {4, 2, 1}, DynamicLoraAllocator.allocate(new double[] {5, 3, 2}, 7, 0, 8));
        // Zero-weight modules stay at r_min until every weighted module is full.
        assertArrayEquals(new int[] {1, 6, 1}, DynamicLoraAllocator.allocate(new double[] {0, 1, 0}, 8, 1, 8));
        assertArrayEquals(new int[] {5, 8, 5}, DynamicLoraAllocator.allocate(new double[] {0, 1, 0}, 18, 1, 8));
    }

    @Test
    void infeasibleBudgetsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> DynamicLoraAllocator.allocate(new double[] {1, 1}, 17, 1, 8));
        assertThrows(IllegalArgumentException.class, () -> DynamicLoraAllocator.allocate(new double[] {1, 1}, 1, 1, 8));
        assertThrows(IllegalArgumentException.class, () -> DynamicLoraAllocator.allocate(new double[] {1, -1}, 4, 1, 8));
    }

    // ---- importance ----

    static LoraAdapter adapter(String name, int in, int out, int rank, boolean gated, long seed) {
        return new LoraAdapter(name, in, out, rank, 8f, false, true, gated, seed);
    }

    static void fill(float[] x, SplittableRandom r, double scale) {
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        }
    }

    @Test
    void sensitivityAndItsSmoothingFollowTheDefinition() {
        int in = 5;
        int out = 3;
        int r = 4;
        LoraAdapter a = adapter("encoder.layer.0.attention.self.query", in, out, r, false, 1);
        LoraAdapter b = adapter("encoder.layer.1.attention.self.value", in, out, r, false, 2);
        DynamicLoraConfig cfg = DynamicLoraConfig.defaults(r, 100).withRanks(1, 3, 3).withSwitches(true, true, false);
        DynamicLoraAllocator alloc = new DynamicLoraAllocator(cfg, List.of(a, b));
        assertArrayEquals(new float[] {1, 1, 1, 0}, a.componentMask());
        SplittableRandom rng = new SplittableRandom(3);
        double[][] e = new double[2][r];
        double[][] u = new double[2][r];
        for (int step = 0; step < 3; step++) {
            List<LoraAdapter> both = List.of(a, b);
            for (int m = 0; m < 2; m++) {
                LoraAdapter ad = both.get(m);
                fill(ad.loraA().data(), rng, 1);
                fill(ad.loraA().grad(), rng, 1);
                fill(ad.loraB().data(), rng, 1);
                fill(ad.loraB().grad(), rng, 1);
                for (int j = 0; j < r; j++) {
                    if (ad.componentMask()[j] == 0f) {
                        continue;
                    }
                    double sa = 0;
                    for (int k = 0; k < in; k++) {
                        sa += (double) ad.loraA().data()[j * in + k] * ad.loraA().grad()[j * in + k];
                    }
                    double sb = 0;
                    for (int o = 0; o < out; o++) {
                        sb += (double) ad.loraB().data()[o * r + j] * ad.loraB().grad()[o * r + j];
                    }
                    double ipt = Math.abs(sa) + Math.abs(sb);
                    e[m][j] = 0.85 * e[m][j] + 0.15 * ipt;
                    u[m][j] = 0.85 * u[m][j] + 0.15 * Math.abs(ipt - e[m][j]);
                }
            }
            alloc.observe(step);
        }
        for (int m = 0; m < 2; m++) {
            double[] s = alloc.componentScores(m);
            double mean = 0;
            for (int j = 0; j < r; j++) {
                assertEquals(e[m][j] * u[m][j], s[j], 1e-12 * (1 + Math.abs(s[j])));
                if (j < 3) {
                    mean += s[j] / 3;
                }
            }
            assertEquals(0.0, s[3], "a masked component is not scored");
            assertEquals(mean, alloc.moduleImportance()[m], 1e-12);
        }
        double[] imp = alloc.moduleImportance();
        assertEquals(List.of("0", "1"), new ArrayList<>(alloc.layerImportance().keySet()));
        assertEquals(imp[0], alloc.layerImportance().get("0"), 0);
        assertEquals(imp[1], alloc.layerImportance().get("1"), 0);
    }

    // ---- reallocation on adapters ----

    /** Three modules whose gradients make module 0 the most important, module 2 the least. */
    static DynamicLoraAllocator trainedAllocator(List<LoraAdapter> ads, int r0, boolean gated) {
        DynamicLoraConfig cfg = DynamicLoraConfig.defaults(ads.get(0).rank(), 100).withRanks(1, r0, r0)
                .withSwitches(true, true, gated).withParameterBudget(false);
        DynamicLoraAllocator alloc = new DynamicLoraAllocator(cfg, ads);
        observeSynthetic(alloc, ads);
        return alloc;
    }

    static void observeSynthetic(DynamicLoraAllocator alloc, List<LoraAdapter> ads) {
        SplittableRandom rng = new SplittableRandom(9);
        for (int step = 0; step < 20; step++) {
            for (int m = 0; m < ads.size(); m++) {
                LoraAdapter ad = ads.get(m);
                double scale = Math.pow(10, -m);
                int in = ad.loraA().data().length / ad.rank();
                for (int j = 0; j < ad.rank(); j++) {
                    // Active components get trained values; masked ones carry garbage that must not matter.
                    for (int k = 0; k < in; k++) {
                        ad.loraA().grad()[j * in + k] = (float) (rng.nextDouble() * scale);
                    }
                }
                fill(ad.loraB().grad(), rng, scale);
            }
            alloc.observe(step);
        }
    }

    static List<LoraAdapter> threeModules(int rank, boolean gated) {
        List<LoraAdapter> ads = new ArrayList<>();
        SplittableRandom rng = new SplittableRandom(4);
        for (int m = 0; m < 3; m++) {
            LoraAdapter a = adapter("encoder.layer." + m + ".output.dense", 6, 5, rank, gated, 10 + m);
            fill(a.loraB().data(), rng, 0.5);
            if (gated) {
                fill(a.gateWeight().data(), rng, 0.5);
                a.gateBias().data()[0] = 0.3f;
            }
            ads.add(a);
        }
        return ads;
    }

    static int active(LoraAdapter a) {
        return DynamicLoraAllocator.activeComponents(a).length;
    }

    @Test
    void reallocationMovesRankToImportantModulesAndSetsMasks() {
        List<LoraAdapter> ads = threeModules(8, false);
        DynamicLoraAllocator alloc = trainedAllocator(ads, 4, false);
        double[] imp = alloc.moduleImportance();
        assertTrue(imp[0] > imp[1] && imp[1] > imp[2], Arrays.toString(imp));
        alloc.reallocate(12);
        int[] ranks = alloc.ranks();
        assertEquals(12, Arrays.stream(ranks).sum());
        assertTrue(ranks[0] > 4 && ranks[2] < 4, Arrays.toString(ranks));
        for (int m = 0; m < 3; m++) {
            assertEquals(ranks[m], active(ads.get(m)));
            assertTrue(ranks[m] >= 1 && ranks[m] <= 8);
        }
        assertEquals(ranks[0], alloc.rankPattern().get("encoder.layer.0.output.dense"));
        // Shrinking keeps the highest-scoring components.
        double[] s2 = alloc.componentScores(2);
        int[] kept = DynamicLoraAllocator.activeComponents(ads.get(2));
        for (int j : kept) {
            for (int d = 0; d < 4; d++) {
                int dd = d;
                if (Arrays.stream(kept).noneMatch(x -> x == dd)) {
                    assertTrue(s2[j] >= s2[d], "kept a lower-scoring component");
                }
            }
        }
        // A budget at the bounds.
        alloc.reallocate(3);
        assertArrayEquals(new int[] {1, 1, 1}, alloc.ranks());
        alloc.reallocate(24);
        assertArrayEquals(new int[] {8, 8, 8}, alloc.ranks());
        for (float v : ads.get(1).componentMask()) {
            assertEquals(1f, v);
        }
    }

    @Test
    void perModuleBoundsKeepTheBudgetExactAndHold() {
        SplittableRandom rng = new SplittableRandom(7);
        for (int trial = 0; trial < 20000; trial++) {
            int n = 1 + rng.nextInt(30);
            int[] lo = new int[n];
            int[] hi = new int[n];
            double[] w = new double[n];
            long sumLo = 0;
            long sumHi = 0;
            for (int m = 0; m < n; m++) {
                lo[m] = rng.nextInt(6);
                hi[m] = lo[m] + rng.nextInt(6);
                w[m] = trial % 5 == 0 && rng.nextInt(3) == 0 ? 0 : Math.exp(rng.nextGaussian() * 3);
                sumLo += lo[m];
                sumHi += hi[m];
            }
            int budget = (int) (sumLo + rng.nextInt((int) (sumHi - sumLo) + 1));
            int[] r = DynamicLoraAllocator.allocate(w, budget, lo, hi);
            long sum = 0;
            for (int m = 0; m < n; m++) {
                int fm = m;
                assertTrue(r[m] >= lo[m] && r[m] <= hi[m], () -> "module " + fm + " out of its bounds: " + Arrays.toString(r));
                sum += r[m];
            }
            assertEquals(budget, sum);
        }
        // Uniform bounds given per module give what the uniform overload gives.
        double[] w = {5, 3, 2, 0, 1};
        int[] lo = {1, 1, 1, 1, 1};
        int[] hi = {8, 8, 8, 8, 8};
        assertArrayEquals(DynamicLoraAllocator.allocate(w, 17, 1, 8), DynamicLoraAllocator.allocate(w, 17, lo, hi));
        // A module held at its upper bound passes the rest on in proportion.
        assertArrayEquals(new int[] {2, 4, 2}, DynamicLoraAllocator.allocate(new double[] {10, 2, 1}, 8, new int[] {1, 1, 1},
                new int[] {2, 8, 8}));
        assertThrows(IllegalArgumentException.class, () -> DynamicLoraAllocator.allocate(new double[] {1, 1}, 9,
                new int[] {1, 1}, new int[] {4, 4}));
    }

    @Test
    void theRankStepLimitBoundsEachMoveAndKeepsTheBudget() {
        List<LoraAdapter> ads = threeModules(8, false);
        DynamicLoraConfig cfg = DynamicLoraConfig.defaults(8, 100).withRanks(1, 4, 4).withSwitches(true, true, false)
                .withMaxRankStep(1);
        DynamicLoraAllocator alloc = new DynamicLoraAllocator(cfg, ads);
        observeSynthetic(alloc, ads);
        int[] before = alloc.ranks();
        alloc.reallocate(12);
        // Unlimited, module 0 would take far more (the test above); limited, each module moves by one at most.
        assertArrayEquals(new int[] {5, 4, 3}, alloc.ranks());
        int[] prev = alloc.ranks();
        for (int i = 0; i < 6; i++) {
            alloc.reallocate(12);
            int[] now = alloc.ranks();
            assertEquals(12, Arrays.stream(now).sum());
            for (int m = 0; m < 3; m++) {
                assertTrue(Math.abs(now[m] - prev[m]) <= 1, Arrays.toString(prev) + " -> " + Arrays.toString(now));
                assertEquals(now[m], active(ads.get(m)));
            }
            prev = now;
        }
        assertTrue(prev[0] > before[0] + 1, "repeated moves still reach the target: " + Arrays.toString(prev));
        // A budget the limit cannot reach in one move: the limit gives way and the budget stays exact.
        alloc.reallocate(3);
        assertArrayEquals(new int[] {1, 1, 1}, alloc.ranks());
        assertThrows(dev.dynalora.UserInputException.class, () -> cfg.withMaxRankStep(-1));
    }

    static TokenBatch batch(int b, int t) {
        int[] mask = new int[b * t];
        for (int e = 0; e < b; e++) {
            for (int s = 0; s < t - e; s++) {
                mask[e * t + s] = 1;
            }
        }
        return new TokenBatch(b, t, mask, false, 0, 0);
    }

    static float[] forward(LoraAdapter a, float[] x, TokenBatch tb, int out) {
        float[] y = new float[tb.rows() * out];
        Arrays.fill(y, 0.25f);
        a.forward(K, x, y, tb);
        return y;
    }

    @Test
    void growingAModuleLeavesItsOutputUnchangedAndMaskedValuesAreKept() {
        for (boolean gated : new boolean[] {false, true}) {
            List<LoraAdapter> ads = threeModules(8, gated);
            LoraAdapter grow = ads.get(0);
            // Garbage in the B columns of never-active components: growing must zero them, not use them.
            for (int o = 0; o < 5; o++) {
                for (int j = 2; j < 8; j++) {
                    grow.loraB().data()[o * 8 + j] = 7f;
                }
            }
            DynamicLoraAllocator alloc = trainedAllocator(ads, 2, gated);
            TokenBatch tb = batch(2, 3);
            float[] x = new float[tb.rows() * 6];
            fill(x, new SplittableRandom(1), 1);
            float[] before = forward(grow, x, tb, 5);
            LoraAdapter shrink = ads.get(2);
            float[] shrinkA = shrink.loraA().data().clone();
            float[] shrinkB = shrink.loraB().data().clone();
            alloc.reallocate(6);
            assertTrue(alloc.ranks()[0] > 2, Arrays.toString(alloc.ranks()));
            assertEquals(1, alloc.ranks()[2]);
            float[] after = forward(grow, x, tb, 5);
            assertArrayEquals(before, after, "growing changed the output (gated " + gated + ")");
            for (int j : DynamicLoraAllocator.activeComponents(grow)) {
                if (j >= 2) {
                    for (int o = 0; o < 5; o++) {
                        assertEquals(0f, grow.loraB().data()[o * 8 + j]);
                    }
                }
            }
            // The shrunk module's masked components keep their values.
            assertArrayEquals(shrinkA, shrink.loraA().data());
            assertArrayEquals(shrinkB, shrink.loraB().data());
        }
    }

    @Test
    void reactivatedComponentsComeBackWithTheirValues() {
        List<LoraAdapter> ads = threeModules(4, false);
        DynamicLoraAllocator alloc = trainedAllocator(ads, 4, false);
        LoraAdapter low = ads.get(2);
        float[] b0 = low.loraB().data().clone();
        alloc.reallocate(6);
        assertTrue(alloc.ranks()[2] < 4);
        alloc.reallocate(12);
        assertEquals(4, alloc.ranks()[2]);
        assertArrayEquals(b0, low.loraB().data(), "a component active before must not be zeroed when it returns");
    }

    @Test
    void snapshotRestoresMaskedComponentsExactly() {
        List<LoraAdapter> ads = threeModules(6, false);
        DynamicLoraAllocator alloc = trainedAllocator(ads, 3, false);
        float[][] a0 = new float[3][];
        float[][] b0 = new float[3][];
        for (int m = 0; m < 3; m++) {
            a0[m] = ads.get(m).loraA().data().clone();
            b0[m] = ads.get(m).loraB().data().clone();
        }
        alloc.beforeOptimizerStep();
        assertThrows(IllegalStateException.class, alloc::beforeOptimizerStep);
        assertThrows(IllegalStateException.class, () -> alloc.reallocate(9));
        for (LoraAdapter a : ads) {   // an "optimizer" that moves everything
            for (float[] p : new float[][] {a.loraA().data(), a.loraB().data()}) {
                for (int i = 0; i < p.length; i++) {
                    p[i] += 1f;
                }
            }
        }
        alloc.afterOptimizerStep();
        for (int m = 0; m < 3; m++) {
            LoraAdapter a = ads.get(m);
            int in = 6;
            for (int j = 0; j < 6; j++) {
                boolean on = a.componentMask()[j] != 0f;
                for (int k = 0; k < in; k++) {
                    float v = a.loraA().data()[j * in + k];
                    assertEquals(on ? a0[m][j * in + k] + 1f : a0[m][j * in + k], v);
                }
                for (int o = 0; o < 5; o++) {
                    float v = a.loraB().data()[o * 6 + j];
                    assertEquals(on ? b0[m][o * 6 + j] + 1f : b0[m][o * 6 + j], v);
                }
            }
        }
        assertThrows(IllegalStateException.class, alloc::afterOptimizerStep);
    }

    @Test
    void scheduleReallocatesEveryDeltaTInsideTheWindowThenFreezes() {
        List<LoraAdapter> ads = threeModules(8, false);
        DynamicLoraConfig cfg = DynamicLoraConfig.defaults(8, 100).withRanks(1, 4, 4).withSchedule(10, 20, 5, 100)
                .withSwitches(true, true, false);
        DynamicLoraAllocator alloc = new DynamicLoraAllocator(cfg, ads);
        List<Long> ran = new ArrayList<>();
        for (long s = 0; s < 100; s++) {
            if (alloc.maybeReallocate(s)) {
                ran.add(s);
                assertEquals(12, alloc.activeBudget());
            }
        }
        List<Long> expected = new ArrayList<>();
        for (long s = 15; s <= 80; s += 5) {
            expected.add(s);
        }
        assertEquals(expected, ran);
        assertTrue(alloc.finalized());
        // Switched off: never.
        DynamicLoraAllocator off = new DynamicLoraAllocator(cfg.withSwitches(true, false, false), threeModules(8, false));
        for (long s = 0; s < 100; s++) {
            assertFalse(off.maybeReallocate(s));
        }
    }

    @Test
    void scheduledBudgetFollowsTheCubicAndStaysExact() {
        DynamicLoraConfig cfg = DynamicLoraConfig.defaults(8, 100).withRanks(1, 6, 2).withSchedule(10, 20, 5, 100)
                .withSwitches(true, true, false);
        assertEquals(18, cfg.budgetAt(0, 3));
        assertEquals(18, cfg.budgetAt(10, 3));
        assertEquals(6, cfg.budgetAt(80, 3));
        assertEquals(6, cfg.budgetAt(99, 3));
        // Halfway: 6 + 12 * 0.5^3 = 7.5 -> 7.
        assertEquals(7, cfg.budgetAt(45, 3));
        List<LoraAdapter> ads = threeModules(8, false);
        DynamicLoraAllocator sched = new DynamicLoraAllocator(cfg, ads);
        observeSynthetic(sched, ads);
        for (long s = 0; s < 100; s++) {
            if (sched.maybeReallocate(s)) {
                assertEquals(cfg.budgetAt(s, 3), sched.activeBudget());
                for (int m = 0; m < 3; m++) {
                    assertEquals(sched.ranks()[m], active(ads.get(m)));
                }
            }
        }
        assertEquals(6, sched.activeBudget());
        assertTrue(sched.ranks()[0] > sched.ranks()[2], Arrays.toString(sched.ranks()));
    }

    @Test
    void allocationRecordHasModulesLayersAndGateStatistics() throws Exception {
        List<LoraAdapter> ads = threeModules(4, true);
        DynamicLoraAllocator alloc = trainedAllocator(ads, 2, true);
        TokenBatch tb = batch(3, 4);
        float[] x = new float[tb.rows() * 6];
        fill(x, new SplittableRandom(2), 1);
        // A larger batch first: the gate buffer keeps its length, the record must count only the last batch.
        TokenBatch big = batch(4, 4);
        float[] xb = new float[big.rows() * 6];
        for (LoraAdapter a : ads) {
            forward(a, xb, big, 5);
            forward(a, x, tb, 5);
        }
        alloc.observe(20);
        JsonNode rec = new ObjectMapper().readTree(alloc.allocationRecord(20).toString());
        assertEquals(20, rec.get("step").asLong());
        assertEquals(6, rec.get("budget").asInt());
        JsonNode q = rec.get("modules").get("encoder.layer.0.output.dense");
        assertEquals(2, q.get("rank").asInt());
        assertTrue(q.get("importance").asDouble() > 0);
        assertEquals(3, q.get("gate_examples").asInt());
        float[] g = ads.get(0).lastGates();
        double mean = (g[0] + g[1] + g[2]) / 3.0;
        assertEquals(mean, q.get("gate_mean").asDouble(), 1e-7);
        assertEquals(Math.min(g[0], Math.min(g[1], g[2])), q.get("gate_min").asDouble(), 1e-7);
        assertEquals(Math.max(g[0], Math.max(g[1], g[2])), q.get("gate_max").asDouble(), 1e-7);
        assertTrue(q.get("gate_std").asDouble() > 0);
        assertEquals(3, rec.get("layers").size());
        // The statistics restart after each record.
        JsonNode next = new ObjectMapper().readTree(alloc.allocationRecord(21).toString());
        assertEquals(0, next.get("modules").get("encoder.layer.0.output.dense").get("gate_examples").asInt());
    }

    @Test
    void configurationIsValidated() {
        assertThrows(RuntimeException.class, () -> DynamicLoraConfig.defaults(8, 100).withRanks(0, 4, 4));
        assertThrows(RuntimeException.class, () -> DynamicLoraConfig.defaults(8, 100).withRanks(1, 9, 4));
        assertThrows(RuntimeException.class, () -> DynamicLoraConfig.defaults(8, 100).withSwitches(false, true, true));
        assertThrows(RuntimeException.class, () -> DynamicLoraConfig.defaults(8, 100).withSchedule(50, 50, 1, 100));
        DynamicLoraConfig d = DynamicLoraConfig.defaults(8, 1000);
        assertEquals(4, d.r0());
        assertEquals(100, d.tInit());
        assertEquals(200, d.tFinal());
        assertEquals(35, d.deltaT());
        // An adapter of the wrong rank, or without a mask, is refused.
        assertThrows(IllegalArgumentException.class, () -> new DynamicLoraAllocator(d.withSwitches(true, true, false),
                List.of(new LoraAdapter("x", 4, 4, 6, 8f, false, true, false, 1))));
        assertThrows(IllegalArgumentException.class, () -> new DynamicLoraAllocator(d.withSwitches(true, true, false),
                List.of(new LoraAdapter("x", 4, 4, 8, 8f, false, false, false, 1))));
    }

    @Test
    void exportAlphaKeepsTheTrainingScale() {
        // Plain LoRA of rank r_m with alpha_m has scale alpha_m / r_m = alpha / r_max.
        float a = DynamicLoraAllocator.exportAlpha(16f, false, 8, 3);
        assertEquals(16f / 8, a / 3, 1e-6);
        float rs = DynamicLoraAllocator.exportAlpha(16f, true, 8, 2);
        assertEquals(16 / Math.sqrt(8), rs / Math.sqrt(2), 1e-5);
    }
}
