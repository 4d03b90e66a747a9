package dev.dynalora.adapters;

import dev.dynalora.adapters.DynamicLoraTrainingAllocTest.Setup;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Dynamic LoRA's parameter budget: with modules of several shapes (attention and MLP projections) and gates, the
 * allocator keeps the adapters' and gates' parameters within LoRA's at the run's rank, so that the methods are
 * compared at one trainable-parameter budget (issue #15).
 */
@Timeout(60)
class DynamicLoraParameterBudgetTest {

    private static long spent(int[] rank, long[] cost) {
        long s = 0;
        for (int m = 0; m < rank.length; m++) {
            s += rank[m] * cost[m];
        }
        return s;
    }

    private static int[] filled(int n, int v) {
        int[] a = new int[n];
        Arrays.fill(a, v);
        return a;
    }

    @Test
    void staysWithinTheBudgetAndLeavesNoAffordableComponentUnused() {
        SplittableRandom rng = new SplittableRandom(5);
        for (int trial = 0; trial < 500; trial++) {
            int n = 1 + rng.nextInt(12);
            double[] w = new double[n];
            long[] cost = new long[n];
            int[] lo = new int[n];
            int[] hi = new int[n];
            long minSpend = 0;
            long maxSpend = 0;
            for (int m = 0; m < n; m++) {
                w[m] = rng.nextInt(5) == 0 ? 0 : rng.nextDouble() * 10;
                cost[m] = rng.nextBoolean() ? 768 : 1920;
                lo[m] = rng.nextInt(3);
                hi[m] = lo[m] + rng.nextInt(8);
                minSpend += lo[m] * cost[m];
                maxSpend += hi[m] * cost[m];
            }
            long budget = minSpend + (long) (rng.nextDouble() * (maxSpend - minSpend + 2000));
            int[] r = DynamicLoraAllocator.allocateByCost(w, cost, budget, lo, hi);
            long s = spent(r, cost);
            assertTrue(s <= budget, "spent " + s + " > " + budget);
            for (int m = 0; m < n; m++) {
                assertTrue(r[m] >= lo[m] && r[m] <= hi[m], Arrays.toString(r));
                assertTrue(r[m] == hi[m] || cost[m] > budget - s,
                        "module " + m + " could still buy a component: " + Arrays.toString(r) + " budget " + budget);
            }
        }
    }

    @Test
    void equalImportanceGetsEqualParametersNotEqualRanks() {
        // An attention projection of d 384 (a component: 768 parameters) and an MLP one (384 -> 1536: 1,920).
        long[] cost = {768, 1920};
        long budget = 8 * (768 + 1920);
        int[] r = DynamicLoraAllocator.allocateByCost(new double[] {1, 1}, cost, budget, filled(2, 1), filled(2, 16));
        // Continuous: 768 x0 = 1920 x1 = budget / 2, so x0 = 14, x1 = 5.6; the floor leaves 1,152 parameters, which
        // buy one more attention component.
        assertArrayEquals(new int[] {15, 5}, r);
        // Twice the weight: twice the parameters.
        int[] r2 = DynamicLoraAllocator.allocateByCost(new double[] {1, 2}, new long[] {1000, 1000}, 30_000,
                filled(2, 0), filled(2, 100));
        assertArrayEquals(new int[] {10, 20}, r2);
    }

    @Test
    void equalCostsGiveTheComponentAllocation() {
        SplittableRandom rng = new SplittableRandom(11);
        for (int trial = 0; trial < 300; trial++) {
            int n = 2 + rng.nextInt(10);
            double[] w = new double[n];
            for (int m = 0; m < n; m++) {
                w[m] = 0.1 + rng.nextDouble();
            }
            int budget = n * (1 + rng.nextInt(7));
            long[] cost = new long[n];
            Arrays.fill(cost, 96);
            int[] byCost = DynamicLoraAllocator.allocateByCost(w, cost, budget * 96L, filled(n, 1), filled(n, 8));
            int[] byCount = DynamicLoraAllocator.allocate(w, budget, 1, 8);
            assertEquals(budget, Arrays.stream(byCost).sum());
            assertArrayEquals(byCount, byCost, "weights " + Arrays.toString(w));
        }
    }

    @Test
    void zeroWeightModulesStayAtTheirLowerBound() {
        int[] r = DynamicLoraAllocator.allocateByCost(new double[] {0, 3, 0}, new long[] {10, 10, 10}, 100,
                filled(3, 1), filled(3, 8));
        assertEquals(1, r[0]);
        assertEquals(8, r[1]);
        assertEquals(1, r[2]);
        assertThrows(IllegalArgumentException.class, () -> DynamicLoraAllocator.allocateByCost(new double[] {1, 1},
                new long[] {10, 10}, 15, filled(2, 1), filled(2, 4)));
    }

    /**
     * A run over query, value and the three dense layers of a tiny BERT (attention components cost 16 parameters,
     * MLP ones 20) with gates: at every step the adapters' active parameters plus the gates' stay within LoRA's
     * at rank r0, and within one component of it, while ranks move.
     */
    @Test
    void aRunOverModulesOfTwoShapesKeepsLorasParameterCount(@TempDir Path dir) throws Exception {
        Setup s = DynamicLoraTrainingAllocTest.setup(dir, 6, true, true);
        DynamicLoraConfig cfg = DynamicLoraConfig.defaults(6, 30).withRanks(1, 3, 3).withSchedule(3, 6, 3, 30);
        assertTrue(cfg.parameterBudget());
        DynamicLoraAllocator alloc = new DynamicLoraAllocator(cfg, s.adapters());
        assertTrue(alloc.parameterBudget());
        List<LoraAdapter> ads = s.adapters();
        long lora = 0;
        long gates = 0;
        long maxCost = 0;
        for (LoraAdapter a : ads) {
            long c = (a.loraA().data().length + a.loraB().data().length) / 6;
            lora += 3 * c;
            maxCost = Math.max(maxCost, c);
            gates += a.gateWeight().data().length + 1;
        }
        assertFalse(Arrays.stream(alloc.ranks()).allMatch(x -> x == 3), "the gates must have taken some components: "
                + Arrays.toString(alloc.ranks()));
        boolean moved = false;
        int[] first = alloc.ranks();
        for (long step = 0; step < 30; step++) {
            DynamicLoraTrainingAllocTest.train(s, alloc, step);
            long active = alloc.activeAdapterParams() + gates;
            assertTrue(active <= lora, "step " + step + ": " + active + " > LoRA's " + lora);
            assertTrue(active > lora - maxCost - 1, "step " + step + ": " + active + " leaves a component unspent");
            moved |= !Arrays.equals(first, alloc.ranks());
        }
        assertTrue(moved, "no rank moved");
    }

    @Test
    void modulesOfOneShapeWithoutGatesKeepTheComponentArithmetic() {
        List<LoraAdapter> ads = DynamicLoraAllocatorTest.threeModules(8, false);
        DynamicLoraConfig cfg = DynamicLoraConfig.defaults(8, 100).withRanks(1, 4, 4).withSwitches(true, true, false);
        DynamicLoraAllocator alloc = new DynamicLoraAllocator(cfg, ads);
        assertFalse(alloc.parameterBudget());
        assertArrayEquals(new int[] {4, 4, 4}, alloc.ranks());
    }
}
