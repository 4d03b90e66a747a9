package dev.dynalora.adapters;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dynalora.data.PaddedBatch;
import dev.dynalora.formats.ModelConfig;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.kernels.ReferenceKernels;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.bert.SequenceClassifier;
import dev.dynalora.models.TinyBert;
import dev.dynalora.tensor.Param;
import dev.dynalora.training.AdamW;
import dev.dynalora.training.ClassifierStep;
import dev.dynalora.training.GradientClipping;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.math.BigInteger;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * AdaLoRA's allocator against PEFT's definitions: the cubic budget schedule (values computed by PEFT's own
 * arithmetic in Python), masking to exactly the budget, the importance EMAs, the orthogonal regulariser and
 * its gradient, and a training run where the allocation takes effect without any user call.
 */
class AdaLoraAllocatorTest {
    static final Kernels K = new ReferenceKernels();

    /**
     * {init_bgt, target_bgt, tinit, tfinal, total_step, deltaT, step, budget, mask_ind}: budget and mask_ind
     * printed by PEFT's RankAllocator.budget_schedule arithmetic run in Python 3 (float division, ** 3, int()).
     * The rows with init 125, target 0 include a step where Python's floats land just below an exact integer
     * (125 * 0.6^3 = 27 exactly, computed 26.999...), so PEFT's budget is one less than exact arithmetic gives.
     */
    static final int[][] PEFT_BUDGETS = {
            {144, 96, 0, 0, 1000, 1, 0, 144, 0},
            {144, 96, 0, 0, 1000, 1, 1, 143, 1},
            {144, 96, 0, 0, 1000, 1, 2, 143, 1},
            {144, 96, 0, 0, 1000, 1, 142, 126, 1},
            {144, 96, 0, 0, 1000, 1, 284, 113, 1},
            {144, 96, 0, 0, 1000, 1, 426, 105, 1},
            {144, 96, 0, 0, 1000, 1, 500, 102, 1},
            {144, 96, 0, 0, 1000, 1, 568, 99, 1},
            {144, 96, 0, 0, 1000, 1, 710, 97, 1},
            {144, 96, 0, 0, 1000, 1, 852, 96, 1},
            {144, 96, 0, 0, 1000, 1, 994, 96, 1},
            {144, 96, 0, 0, 1000, 1, 999, 96, 1},
            {144, 96, 0, 0, 1000, 1, 1000, 96, 1},
            {144, 96, 0, 0, 1000, 1, 1001, 96, 1},
            {144, 96, 100, 200, 1000, 10, 0, 144, 0},
            {144, 96, 100, 200, 1000, 10, 1, 144, 0},
            {144, 96, 100, 200, 1000, 10, 100, 144, 0},
            {144, 96, 100, 200, 1000, 10, 101, 143, 0},
            {144, 96, 100, 200, 1000, 10, 102, 143, 0},
            {144, 96, 100, 200, 1000, 10, 200, 126, 1},
            {144, 96, 100, 200, 1000, 10, 300, 113, 1},
            {144, 96, 100, 200, 1000, 10, 400, 104, 1},
            {144, 96, 100, 200, 1000, 10, 450, 102, 1},
            {144, 96, 100, 200, 1000, 10, 500, 99, 1},
            {144, 96, 100, 200, 1000, 10, 600, 97, 1},
            {144, 96, 100, 200, 1000, 10, 700, 96, 1},
            {144, 96, 100, 200, 1000, 10, 799, 96, 0},
            {144, 96, 100, 200, 1000, 10, 800, 96, 1},
            {144, 96, 100, 200, 1000, 10, 801, 96, 1},
            {144, 96, 100, 200, 1000, 10, 999, 96, 1},
            {144, 96, 100, 200, 1000, 10, 1000, 96, 1},
            {36, 12, 3, 7, 30, 3, 0, 36, 0},
            {36, 12, 3, 7, 30, 3, 1, 36, 0},
            {36, 12, 3, 7, 30, 3, 3, 36, 0},
            {36, 12, 3, 7, 30, 3, 4, 32, 0},
            {36, 12, 3, 7, 30, 3, 5, 29, 0},
            {36, 12, 3, 7, 30, 3, 7, 24, 0},
            {36, 12, 3, 7, 30, 3, 9, 20, 1},
            {36, 12, 3, 7, 30, 3, 11, 17, 0},
            {36, 12, 3, 7, 30, 3, 13, 15, 0},
            {36, 12, 3, 7, 30, 3, 15, 13, 1},
            {36, 12, 3, 7, 30, 3, 17, 12, 0},
            {36, 12, 3, 7, 30, 3, 19, 12, 0},
            {36, 12, 3, 7, 30, 3, 21, 12, 1},
            {36, 12, 3, 7, 30, 3, 22, 12, 0},
            {36, 12, 3, 7, 30, 3, 23, 12, 0},
            {36, 12, 3, 7, 30, 3, 24, 12, 1},
            {36, 12, 3, 7, 30, 3, 29, 12, 1},
            {36, 12, 3, 7, 30, 3, 30, 12, 1},
            {24, 0, 5, 5, 33, 4, 0, 24, 0},
            {24, 0, 5, 5, 33, 4, 1, 24, 0},
            {24, 0, 5, 5, 33, 4, 5, 24, 0},
            {24, 0, 5, 5, 33, 4, 6, 21, 0},
            {24, 0, 5, 5, 33, 4, 7, 18, 0},
            {24, 0, 5, 5, 33, 4, 8, 15, 1},
            {24, 0, 5, 5, 33, 4, 11, 9, 0},
            {24, 0, 5, 5, 33, 4, 14, 5, 0},
            {24, 0, 5, 5, 33, 4, 16, 3, 1},
            {24, 0, 5, 5, 33, 4, 17, 2, 0},
            {24, 0, 5, 5, 33, 4, 20, 1, 1},
            {24, 0, 5, 5, 33, 4, 23, 0, 0},
            {24, 0, 5, 5, 33, 4, 26, 0, 0},
            {24, 0, 5, 5, 33, 4, 27, 0, 0},
            {24, 0, 5, 5, 33, 4, 28, 0, 1},
            {24, 0, 5, 5, 33, 4, 29, 0, 1},
            {24, 0, 5, 5, 33, 4, 32, 0, 1},
            {24, 0, 5, 5, 33, 4, 33, 0, 1},
            {1152, 768, 200, 500, 7000, 100, 0, 1152, 0},
            {1152, 768, 200, 500, 7000, 100, 1, 1152, 0},
            {1152, 768, 200, 500, 7000, 100, 200, 1152, 0},
            {1152, 768, 200, 500, 7000, 100, 201, 1151, 0},
            {1152, 768, 200, 500, 7000, 100, 202, 1151, 0},
            {1152, 768, 200, 500, 7000, 100, 1100, 1009, 1},
            {1152, 768, 200, 500, 7000, 100, 2000, 907, 1},
            {1152, 768, 200, 500, 7000, 100, 2900, 839, 1},
            {1152, 768, 200, 500, 7000, 100, 3350, 816, 0},
            {1152, 768, 200, 500, 7000, 100, 3800, 798, 1},
            {1152, 768, 200, 500, 7000, 100, 4700, 776, 1},
            {1152, 768, 200, 500, 7000, 100, 5600, 769, 1},
            {1152, 768, 200, 500, 7000, 100, 6499, 768, 0},
            {1152, 768, 200, 500, 7000, 100, 6500, 768, 1},
            {1152, 768, 200, 500, 7000, 100, 6501, 768, 1},
            {1152, 768, 200, 500, 7000, 100, 6999, 768, 1},
            {1152, 768, 200, 500, 7000, 100, 7000, 768, 1},
            {27, 0, 0, 0, 3, 1, 0, 27, 0},
            {27, 0, 0, 0, 3, 1, 1, 8, 1},
            {27, 0, 0, 0, 3, 1, 2, 1, 1},
            {27, 0, 0, 0, 3, 1, 3, 0, 1},
            {27, 0, 0, 0, 3, 1, 4, 0, 1},
            {125, 0, 0, 0, 5, 1, 0, 125, 0},
            {125, 0, 0, 0, 5, 1, 1, 64, 1},
            {125, 0, 0, 0, 5, 1, 2, 26, 1},
            {125, 0, 0, 0, 5, 1, 3, 8, 1},
            {125, 0, 0, 0, 5, 1, 4, 0, 1},
            {125, 0, 0, 0, 5, 1, 5, 0, 1},
            {125, 0, 0, 0, 5, 1, 6, 0, 1},
            {135, 10, 0, 0, 5, 1, 0, 135, 0},
            {135, 10, 0, 0, 5, 1, 1, 74, 1},
            {135, 10, 0, 0, 5, 1, 2, 37, 1},
            {135, 10, 0, 0, 5, 1, 3, 18, 1},
            {135, 10, 0, 0, 5, 1, 4, 11, 1},
            {135, 10, 0, 0, 5, 1, 5, 10, 1},
            {135, 10, 0, 0, 5, 1, 6, 10, 1},
            {133, 8, 2, 3, 15, 2, 0, 133, 0},
            {133, 8, 2, 3, 15, 2, 1, 133, 0},
            {133, 8, 2, 3, 15, 2, 2, 133, 0},
            {133, 8, 2, 3, 15, 2, 3, 99, 0},
            {133, 8, 2, 3, 15, 2, 4, 72, 1},
            {133, 8, 2, 3, 15, 2, 5, 50, 0},
            {133, 8, 2, 3, 15, 2, 6, 35, 1},
            {133, 8, 2, 3, 15, 2, 7, 23, 0},
            {133, 8, 2, 3, 15, 2, 8, 16, 1},
            {133, 8, 2, 3, 15, 2, 9, 11, 0},
            {133, 8, 2, 3, 15, 2, 10, 9, 1},
            {133, 8, 2, 3, 15, 2, 11, 8, 0},
            {133, 8, 2, 3, 15, 2, 12, 8, 1},
            {133, 8, 2, 3, 15, 2, 13, 8, 1},
            {133, 8, 2, 3, 15, 2, 14, 8, 1},
            {133, 8, 2, 3, 15, 2, 15, 8, 1}
    };

    @Test
    void budgetScheduleMatchesPeftAtGivenSteps() {
        for (int[] row : PEFT_BUDGETS) {
            AdaLoraAllocator.Config c = new AdaLoraAllocator.Config(12, 0, row[2], row[3], row[5], 0.85, 0.85, 0.5, row[4]);
            AdaLoraAllocator.Budget b = AdaLoraAllocator.budgetSchedule(c, row[0], row[1], row[6]);
            String at = "init " + row[0] + " target " + row[1] + " tinit " + row[2] + " tfinal " + row[3] + " total "
                    + row[4] + " deltaT " + row[5] + " step " + row[6];
            assertEquals(row[7], b.budget(), at);
            assertEquals(row[8] == 1, b.maskInd(), at);
            // Independently, in exact rational arithmetic: target + (init - target) * ((D - s) / D)^3, floored,
            // with D = total - tfinal - tinit and s = step - tinit inside the window. Floating point can only
            // fall one short of it, where the exact value is an integer.
            long s = row[6] - row[2];
            long d = row[4] - row[3] - row[2];
            if (s > 0 && s <= d) {
                BigInteger num = BigInteger.valueOf(row[0] - row[1]).multiply(BigInteger.valueOf(d - s).pow(3));
                BigInteger den = BigInteger.valueOf(d).pow(3);
                BigInteger[] qr = num.divideAndRemainder(den);
                long exact = qr[0].longValue() + row[1];
                boolean integer = qr[1].signum() == 0;
                assertTrue(b.budget() == exact || (integer && b.budget() == exact - 1), at + ": " + b.budget() + " vs exact " + exact);
            } else if (s <= 0) {
                assertEquals(row[0], b.budget(), at);
            } else {
                assertEquals(row[1], b.budget(), at);
            }
        }
    }

    static List<AdaLoraAdapter> modules(int n, int r, long seed) {
        List<AdaLoraAdapter> ads = new ArrayList<>();
        for (int m = 0; m < n; m++) {
            ads.add(new AdaLoraAdapter("encoder.layer." + m + ".attention.self.query", 5 + m, 4, r, 32f, seed + m));
        }
        return ads;
    }

    static void fill(float[] x, SplittableRandom r, double scale) {
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        }
    }

    /** What an optimizer step and a backward leave behind: new values for every parameter, fresh gradients. */
    static void randomStep(List<AdaLoraAdapter> ads, SplittableRandom rng) {
        for (AdaLoraAdapter a : ads) {
            for (Param p : a.params()) {
                fill(p.data(), rng, 1);
                fill(p.grad(), rng, 1);
            }
        }
    }

    static int active(AdaLoraAllocator alloc) {
        return Arrays.stream(alloc.ranks()).sum();
    }

    @Test
    void importanceIsPeftsEmaOfSensitivityAndUncertainty() {
        List<AdaLoraAdapter> ads = modules(2, 3, 1);
        AdaLoraAllocator alloc = new AdaLoraAllocator(AdaLoraAllocator.Config.defaults(100), ads);
        SplittableRandom rng = new SplittableRandom(2);
        AdaLoraAdapter a = ads.get(1);
        int in = a.in();
        int out = a.out();
        double[][] ip = new double[3][];
        double[][] un = new double[3][];
        List<Param> ps = a.params();
        for (int k = 0; k < 3; k++) {
            ip[k] = new double[ps.get(k).data().length];
            un[k] = new double[ip[k].length];
        }
        for (int step = 0; step < 4; step++) {
            randomStep(ads, rng);
            for (int k = 0; k < 3; k++) {
                float[] p = ps.get(k).data();
                float[] g = ps.get(k).grad();
                for (int i = 0; i < p.length; i++) {
                    double ipt = Math.abs((double) p[i] * g[i]);
                    ip[k][i] = 0.85 * ip[k][i] + 0.15 * ipt;
                    un[k][i] = 0.85 * un[k][i] + 0.15 * Math.abs(ipt - ip[k][i]);
                }
            }
            alloc.updateIpt();
        }
        double[] s = alloc.tripletScores(1);
        for (int i = 0; i < 3; i++) {
            double sa = 0;
            for (int t = 0; t < in; t++) {
                sa += ip[0][i * in + t] * un[0][i * in + t];
            }
            double sb = 0;
            for (int o = 0; o < out; o++) {
                sb += ip[2][o * 3 + i] * un[2][o * 3 + i];
            }
            double expected = ip[1][i] * un[1][i] + sa / in + sb / out;
            assertEquals(expected, s[i], 1e-5 * Math.abs(expected));
        }
    }

    @Test
    void maskingLeavesExactlyTheBudgetAndPrunesTheLowestScores() {
        List<AdaLoraAdapter> ads = modules(3, 4, 5);
        AdaLoraAllocator alloc = new AdaLoraAllocator(AdaLoraAllocator.Config.defaults(100), ads);
        // No scores yet: every triplet ties at zero, and the count must still be exact.
        for (int budget = 12; budget >= 0; budget--) {
            randomStep(ads, new SplittableRandom(budget));
            alloc.maskToBudget(budget);
            assertEquals(budget, active(alloc));
        }
        SplittableRandom rng = new SplittableRandom(6);
        for (int step = 0; step < 5; step++) {
            randomStep(ads, rng);
            alloc.updateIpt();
        }
        for (int budget = 0; budget <= 12; budget++) {
            randomStep(ads, rng);   // E regrows between maskings, as under an optimizer
            alloc.maskToBudget(budget);
            assertEquals(budget, active(alloc));
            assertEquals(budget, alloc.currentBudget());
            double maxPruned = Double.NEGATIVE_INFINITY;
            double minKept = Double.POSITIVE_INFINITY;
            List<boolean[]> pattern = new ArrayList<>(alloc.rankPattern().values());
            for (int m = 0; m < 3; m++) {
                double[] s = alloc.tripletScores(m);
                for (int i = 0; i < 4; i++) {
                    if (pattern.get(m)[i]) {
                        minKept = Math.min(minKept, s[i]);
                    } else {
                        maxPruned = Math.max(maxPruned, s[i]);
                        assertEquals(0f, ads.get(m).loraE().data()[i], "a pruned triplet keeps E");
                    }
                }
            }
            assertTrue(maxPruned <= minKept, "pruned a triplet scoring above a kept one");
        }
    }

    @Test
    void updateAndAllocateFollowsTheScheduleThenFixesTheFinalPattern() {
        // init_r 4 on 3 modules: init_bgt 12, target_r 2: target_bgt 6. Window (2, 12], deltaT 2.
        AdaLoraAllocator.Config c = new AdaLoraAllocator.Config(4, 2, 2, 3, 2, 0.85, 0.85, 0.5, 15);
        List<AdaLoraAdapter> ads = modules(3, 4, 9);
        AdaLoraAllocator alloc = new AdaLoraAllocator(c, ads);
        assertEquals(12, alloc.initBudget());
        assertEquals(6, alloc.targetBudget());
        SplittableRandom rng = new SplittableRandom(10);
        List<boolean[]> finalPattern = null;
        for (long step = 0; step < 15; step++) {
            randomStep(ads, rng);
            int before = active(alloc);
            alloc.updateAndAllocate(step);
            AdaLoraAllocator.Budget b = alloc.budgetSchedule(step);
            if (step <= 2) {
                assertEquals(12, active(alloc), "no masking during the warm-up");
            } else if (step < 12) {
                assertEquals(b.maskInd() ? b.budget() : before, active(alloc), "step " + step);
            } else if (step == 12) {
                assertEquals(6, active(alloc), "the final mask is forced at total_step - tfinal");
                finalPattern = new ArrayList<>(alloc.rankPattern().values());
                double[] s = alloc.tripletScores(0);
                assertTrue(Arrays.stream(s).allMatch(x -> x == 0), "importance is reset after the final mask");
            } else {
                List<boolean[]> now = new ArrayList<>(alloc.rankPattern().values());
                for (int m = 0; m < 3; m++) {
                    assertTrue(Arrays.equals(finalPattern.get(m), now.get(m)), "the final pattern changed");
                }
            }
            // Whatever the optimizer did to E, the pruned entries are zero after the call.
            List<boolean[]> pattern = new ArrayList<>(alloc.rankPattern().values());
            if (step > 2 && (step >= 12 || b.maskInd())) {
                for (int m = 0; m < 3; m++) {
                    for (int i = 0; i < 4; i++) {
                        if (!pattern.get(m)[i]) {
                            assertEquals(0f, ads.get(m).loraE().data()[i]);
                        }
                    }
                }
            }
        }
    }

    /** ||A A^T - I||_F of A [r, len], computed naively. */
    static double frobRows(float[] a, int r, int len) {
        double s = 0;
        for (int i = 0; i < r; i++) {
            for (int j = 0; j < r; j++) {
                double d = 0;
                for (int t = 0; t < len; t++) {
                    d += (double) a[i * len + t] * a[j * len + t];
                }
                d -= i == j ? 1 : 0;
                s += d * d;
            }
        }
        return Math.sqrt(s);
    }

    /** ||B^T B - I||_F of B [len, r]. */
    static double frobCols(float[] b, int r, int len) {
        double s = 0;
        for (int i = 0; i < r; i++) {
            for (int j = 0; j < r; j++) {
                double d = 0;
                for (int t = 0; t < len; t++) {
                    d += (double) b[t * r + i] * b[t * r + j];
                }
                d -= i == j ? 1 : 0;
                s += d * d;
            }
        }
        return Math.sqrt(s);
    }

    @Test
    void orthogonalRegulariserIsPeftsAndItsGradientIsExact() {
        List<AdaLoraAdapter> ads = modules(2, 3, 11);
        AdaLoraAllocator.Config c = new AdaLoraAllocator.Config(3, 2, 0, 0, 1, 0.85, 0.85, 0.7, 10);
        AdaLoraAllocator alloc = new AdaLoraAllocator(c, ads);
        SplittableRandom rng = new SplittableRandom(12);
        for (AdaLoraAdapter a : ads) {
            fill(a.loraA().data(), rng, 0.6);
            fill(a.loraB().data(), rng, 0.6);
        }
        // PEFT: orth_reg_weight * (sum of Frobenius norms over every A and B) / number of those matrices.
        double expected = 0;
        for (AdaLoraAdapter a : ads) {
            expected += frobRows(a.loraA().data(), 3, a.in()) + frobCols(a.loraB().data(), 3, a.out());
        }
        expected = 0.7 * expected / 4;
        for (AdaLoraAdapter a : ads) {
            for (Param p : a.params()) {
                p.zeroGrad();
            }
        }
        double value = alloc.addOrthogonalRegularization();
        assertEquals(expected, value, 1e-12);
        // Every later call adds into every gradient again: keep the first call's gradients.
        java.util.Map<Param, float[]> grads = new java.util.HashMap<>();
        for (AdaLoraAdapter a : ads) {
            for (Param p : a.params()) {
                grads.put(p, p.grad().clone());
            }
        }
        for (AdaLoraAdapter a : ads) {
            assertTrue(Arrays.stream(toDouble(a.loraE().grad())).allMatch(x -> x == 0), "E is not regularised");
            for (Param p : List.of(a.loraA(), a.loraB())) {
                float[] w = p.data();
                float[] g = grads.get(p);
                for (int i = 0; i < w.length; i++) {
                    float orig = w[i];
                    w[i] = orig + 1e-3f;
                    float up = w[i];
                    double lp = alloc.addOrthogonalRegularization();
                    w[i] = orig - 1e-3f;
                    float down = w[i];
                    double lm = alloc.addOrthogonalRegularization();
                    w[i] = orig;
                    double num = (lp - lm) / ((double) up - down);
                    assertEquals(num, g[i], 1e-4 + 1e-3 * Math.abs(num), p.name() + "[" + i + "]");
                }
            }
        }
    }

    static double[] toDouble(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            d[i] = x[i];
        }
        return d;
    }

    @Test
    void configurationIsValidated() {
        assertThrows(RuntimeException.class, () -> new AdaLoraAllocator.Config(4, 6, 0, 0, 1, 0.85, 0.85, 0.5, 10));
        assertThrows(RuntimeException.class, () -> new AdaLoraAllocator.Config(4, 2, 5, 5, 1, 0.85, 0.85, 0.5, 10));
        assertThrows(RuntimeException.class, () -> new AdaLoraAllocator.Config(4, 2, 0, 0, 0, 0.85, 0.85, 0.5, 10));
        assertThrows(RuntimeException.class, () -> new AdaLoraAllocator.Config(4, 2, 0, 0, 1, 0.85, 0.85, 0, 10));
        assertThrows(RuntimeException.class, () -> new AdaLoraAllocator.Config(4, 2, 0, 0, 1, 1.0, 0.85, 0.5, 10));
    }

    @Test
    void allocationTakesEffectInATrainingRun(@TempDir Path dir) throws Exception {
        ModelConfig mc = TinyBert.config(dir, 2, 8, 2, 12, 0.1);
        SequenceClassifier model = TinyBert.classifier(mc, 3, 7);
        for (Param p : model.allParams()) {
            p.setTrainable(false);
        }
        for (Param p : model.headParams()) {
            p.setTrainable(true);
        }
        List<AdaLoraAdapter> ads = new ArrayList<>();
        List<Param> params = new ArrayList<>();
        int off = 0;
        for (LinearModule lm : model.encoder().linearModules()) {
            if (lm.shortName().equals("query") || lm.shortName().equals("value")) {
                AdaLoraAdapter a = new AdaLoraAdapter(lm.name(), lm.in(), lm.out(), 4, 8f, 100 + off++);
                lm.setAdapter(a);
                ads.add(a);
                params.addAll(a.params());
            }
        }
        params.addAll(model.headParams());
        AdamW opt = new AdamW(params, 0.9f, 0.999f, 1e-8f, 0.01f);
        ClassifierStep cs = new ClassifierStep(model, params, opt, 1.0);
        AdaLoraAllocator alloc = new AdaLoraAllocator(new AdaLoraAllocator.Config(4, 2, 2, 4, 1, 0.85, 0.85, 0.5, 16), ads);
        PaddedBatch b = PaddedBatch.of(List.of(new int[] {1, 5, 7, 2}, new int[] {1, 9, 2}), null, 0);
        ObjectMapper json = new ObjectMapper();
        for (long step = 0; step < 16; step++) {
            float loss = cs.lossAndGradients(K, b, new int[] {0, 2}, null, true, 3, step);
            double reg = alloc.addOrthogonalRegularization();
            assertTrue(Float.isFinite(loss) && reg > 0);
            GradientClipping.clip(params, 1.0);
            opt.step(1e-2f);
            int budget = alloc.updateAndAllocate(step);
            if (step >= 12) {
                assertEquals(8, budget);
                assertEquals(8, active(alloc));
            }
            JsonNode rec = json.readTree(alloc.allocationRecord(step).toString());
            assertEquals(4, rec.get("modules").size());
        }
        // Pruned triplets contribute nothing at the end: E is zero there.
        List<boolean[]> pattern = new ArrayList<>(alloc.rankPattern().values());
        for (int m = 0; m < ads.size(); m++) {
            for (int i = 0; i < 4; i++) {
                if (!pattern.get(m)[i]) {
                    assertEquals(0f, ads.get(m).loraE().data()[i]);
                } else {
                    assertTrue(ads.get(m).loraE().data()[i] != 0f, "a kept triplet did not train");
                }
            }
        }
    }
}
